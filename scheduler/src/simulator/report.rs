//! Metrics of a simulated run, defined as vLLM's `benchmarks/benchmark_serving.py` defines them:
//!
//! - **TTFT** (time to first token): arrival → the end of the step that sampled the first token.
//! - **TPOT** (time per output token): `(E2E − TTFT) / (output_tokens − 1)`, for requests with more
//!   than one output token.
//! - **ITL** (inter-token latency): every gap between consecutive tokens of a request.
//! - **E2E** (end-to-end latency): arrival → the last token.
//! - Throughputs over the run's duration (first arrival → last finish): requests/s, output tokens/s,
//!   and total (prompt + output) tokens/s.
//!
//! Each latency is summarised by mean, p50, p90, p99 and max; percentiles interpolate linearly between
//! order statistics (numpy's default, as vLLM's benchmark uses). Per-tenant and per-priority
//! breakdowns show who paid for a policy's choices. Complexity: O(n log n) for the percentiles.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::cost_model::{CostCoefficients, CostModelMeta};
use crate::config::SchedulerConfig;

/// Summary of one latency distribution, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyStats {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl LatencyStats {
    /// Summarises `values` (sorted in place). All zeros for an empty set.
    pub fn from_values(values: &mut [f64]) -> LatencyStats {
        if values.is_empty() {
            return LatencyStats::default();
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        LatencyStats {
            count: n,
            mean: values.iter().sum::<f64>() / n as f64,
            p50: percentile(values, 50.0),
            p90: percentile(values, 90.0),
            p99: percentile(values, 99.0),
            max: values[n - 1],
        }
    }
}

/// The `p`-th percentile of sorted `values`, linear interpolation (numpy's default).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n => {
            let rank = p.clamp(0.0, 100.0) / 100.0 * (n - 1) as f64;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

/// What happened to one request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRecord {
    /// Position in the workload (also its request id).
    pub index: usize,
    pub tenant: String,
    pub priority: i32,
    pub arrival_time: f64,
    pub first_token_time: f64,
    pub finish_time: f64,
    pub prompt_tokens: usize,
    /// Tokens actually generated (the workload's `output_tokens` unless `max_model_len` cut it).
    pub output_tokens: usize,
    /// Prompt tokens served from the prefix cache at first admission.
    pub cached_tokens: usize,
    pub preemptions: u32,
    pub finish_reason: String,
}

impl RequestRecord {
    pub fn ttft(&self) -> f64 {
        self.first_token_time - self.arrival_time
    }

    pub fn e2e(&self) -> f64 {
        self.finish_time - self.arrival_time
    }

    /// `None` for single-token outputs (vLLM leaves them out of TPOT).
    pub fn tpot(&self) -> Option<f64> {
        (self.output_tokens > 1).then(|| (self.finish_time - self.first_token_time) / (self.output_tokens - 1) as f64)
    }
}

/// Run-wide counters the step loop collects besides the per-request records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunCounters {
    pub num_steps: u64,
    /// `schedule()` calls that planned nothing (only preempted); they take no time.
    pub empty_steps: u64,
    /// Σ of predicted step times (the engine was busy).
    pub busy_seconds: f64,
    /// Σ batched tokens over steps (includes recomputation after preemption).
    pub computed_tokens: u64,
    /// Σ scheduled sequences over steps.
    pub scheduled_seqs: u64,
    pub num_preemptions: u64,
    pub prefix_cache_queried_tokens: u64,
    pub prefix_cache_hit_tokens: u64,
    /// Every inter-token gap of every request (seconds).
    pub itls: Vec<f64>,
}

/// The workload's shape, for the report header.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WorkloadSummary {
    pub description: String,
    pub num_requests: usize,
    pub mean_prompt_tokens: f64,
    pub mean_output_tokens: f64,
    pub last_arrival_s: f64,
    /// Requests per second offered (`inf` when all arrive at once; JSON `null`).
    pub offered_rate: f64,
}

/// The cost model's identity, without its samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CostModelSummary {
    pub description: String,
    pub meta: CostModelMeta,
    pub coefficients: CostCoefficients,
}

/// Metrics of one slice of the requests (a tenant, a priority class).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GroupReport {
    pub group: String,
    pub num_requests: usize,
    pub prompt_tokens: usize,
    pub output_tokens: usize,
    /// This group's fraction of all output tokens.
    pub output_share: f64,
    /// Output tokens per second over the run's duration.
    pub output_throughput: f64,
    pub preemptions: u64,
    pub ttft_s: LatencyStats,
    pub tpot_s: LatencyStats,
    pub e2e_s: LatencyStats,
}

/// Prefix-cache effectiveness (all admissions, re-admissions after preemption included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PrefixCacheReport {
    pub queried_tokens: u64,
    pub hit_tokens: u64,
    pub hit_rate: f64,
}

/// Everything a simulated run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimulationReport {
    pub policy: String,
    pub seed: u64,
    pub workload: WorkloadSummary,
    pub scheduler: SchedulerConfig,
    pub cost_model: CostModelSummary,
    pub completed: usize,
    /// First arrival → last finish (simulated seconds).
    pub duration_s: f64,
    /// Fraction of the duration the engine was running a step.
    pub busy_fraction: f64,
    pub request_throughput: f64,
    pub output_throughput: f64,
    pub total_token_throughput: f64,
    pub total_prompt_tokens: usize,
    pub total_output_tokens: usize,
    pub ttft_s: LatencyStats,
    pub tpot_s: LatencyStats,
    pub itl_s: LatencyStats,
    pub e2e_s: LatencyStats,
    pub num_steps: u64,
    /// `schedule()` calls that planned nothing because the first running request preempted itself.
    pub empty_steps: u64,
    pub mean_batch_tokens: f64,
    pub mean_batch_seqs: f64,
    /// Tokens computed more than once because their request was preempted (recompute).
    pub recomputed_tokens: u64,
    pub num_preemptions: u64,
    pub preempted_requests: usize,
    pub prefix_cache: PrefixCacheReport,
    pub per_tenant: Vec<GroupReport>,
    pub per_priority: Vec<GroupReport>,
}

/// Builds a group report for each distinct `key` (sorted by key).
fn breakdown<K: Ord>(records: &[RequestRecord], duration: f64, total_output: usize, key: impl Fn(&RequestRecord) -> K, name: impl Fn(&K) -> String) -> Vec<GroupReport> {
    let mut groups: BTreeMap<K, Vec<&RequestRecord>> = BTreeMap::new();
    for r in records {
        groups.entry(key(r)).or_default().push(r);
    }
    groups.iter().map(|(k, rs)| group_report(name(k), rs, duration, total_output)).collect()
}

fn group_report(group: String, records: &[&RequestRecord], duration: f64, total_output: usize) -> GroupReport {
    let output_tokens: usize = records.iter().map(|r| r.output_tokens).sum();
    GroupReport {
        group,
        num_requests: records.len(),
        prompt_tokens: records.iter().map(|r| r.prompt_tokens).sum(),
        output_tokens,
        output_share: ratio(output_tokens as f64, total_output as f64),
        output_throughput: ratio(output_tokens as f64, duration),
        preemptions: records.iter().map(|r| u64::from(r.preemptions)).sum(),
        ttft_s: LatencyStats::from_values(&mut records.iter().map(|r| r.ttft()).collect::<Vec<_>>()),
        tpot_s: LatencyStats::from_values(&mut records.iter().filter_map(|r| r.tpot()).collect::<Vec<_>>()),
        e2e_s: LatencyStats::from_values(&mut records.iter().map(|r| r.e2e()).collect::<Vec<_>>()),
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Identity of the run, filled by the step loop.
pub struct RunContext<'a> {
    pub policy: &'a str,
    pub seed: u64,
    pub workload: WorkloadSummary,
    pub scheduler: &'a SchedulerConfig,
    pub cost_model: CostModelSummary,
}

/// Aggregates the records and counters into a report.
pub fn build_report(ctx: RunContext<'_>, records: &[RequestRecord], counters: &mut RunCounters) -> SimulationReport {
    let first_arrival = records.iter().map(|r| r.arrival_time).fold(f64::INFINITY, f64::min);
    let last_finish = records.iter().map(|r| r.finish_time).fold(0.0, f64::max);
    let duration = if records.is_empty() { 0.0 } else { last_finish - first_arrival };
    let total_prompt: usize = records.iter().map(|r| r.prompt_tokens).sum();
    let total_output: usize = records.iter().map(|r| r.output_tokens).sum();
    let all: Vec<&RequestRecord> = records.iter().collect();
    let overall = group_report(String::new(), &all, duration, total_output);
    let steps = counters.num_steps.max(1) as f64;
    let prefix = PrefixCacheReport {
        queried_tokens: counters.prefix_cache_queried_tokens,
        hit_tokens: counters.prefix_cache_hit_tokens,
        hit_rate: ratio(counters.prefix_cache_hit_tokens as f64, counters.prefix_cache_queried_tokens as f64),
    };
    let useful = records.iter().map(|r| (r.prompt_tokens - r.cached_tokens + r.output_tokens.saturating_sub(1)) as u64).sum::<u64>();
    SimulationReport {
        policy: ctx.policy.to_string(),
        seed: ctx.seed,
        workload: ctx.workload,
        scheduler: ctx.scheduler.clone(),
        cost_model: ctx.cost_model,
        completed: records.len(),
        duration_s: duration,
        busy_fraction: ratio(counters.busy_seconds, duration),
        request_throughput: ratio(records.len() as f64, duration),
        output_throughput: ratio(total_output as f64, duration),
        total_token_throughput: ratio((total_prompt + total_output) as f64, duration),
        total_prompt_tokens: total_prompt,
        total_output_tokens: total_output,
        ttft_s: overall.ttft_s,
        tpot_s: overall.tpot_s,
        itl_s: LatencyStats::from_values(&mut counters.itls),
        e2e_s: overall.e2e_s,
        num_steps: counters.num_steps,
        empty_steps: counters.empty_steps,
        mean_batch_tokens: counters.computed_tokens as f64 / steps,
        mean_batch_seqs: counters.scheduled_seqs as f64 / steps,
        recomputed_tokens: counters.computed_tokens.saturating_sub(useful),
        num_preemptions: counters.num_preemptions,
        preempted_requests: records.iter().filter(|r| r.preemptions > 0).count(),
        prefix_cache: prefix,
        per_tenant: breakdown(records, duration, total_output, |r| r.tenant.clone(), |k| k.clone()),
        per_priority: breakdown(records, duration, total_output, |r| r.priority, |k| k.to_string()),
    }
}

fn ms(s: f64) -> String {
    format!("{:.1}", s * 1e3)
}

impl SimulationReport {
    /// The human-readable report (latencies in milliseconds).
    pub fn to_table(&self) -> String {
        let mut t = String::new();
        let w = &self.workload;
        let _ = writeln!(t, "policy {} | workload {} | {} requests, mean prompt {:.0} / output {:.0} tokens", self.policy, w.description, w.num_requests, w.mean_prompt_tokens, w.mean_output_tokens);
        let _ = writeln!(t, "cost model: {}", self.cost_model.description);
        let s = &self.scheduler;
        let _ = writeln!(
            t,
            "scheduler: max_num_seqs {}, max_num_batched_tokens {}, block_size {}, num_blocks {} ({} tokens), prefix caching {}",
            s.max_num_seqs,
            s.max_num_batched_tokens,
            s.block_size,
            s.num_blocks,
            s.num_blocks * s.block_size,
            if s.enable_prefix_caching { "on" } else { "off" }
        );
        let _ = writeln!(t, "duration {:.2} s (busy {:.0} %) | {:.3} req/s | output {:.1} tok/s | total {:.1} tok/s", self.duration_s, self.busy_fraction * 100.0, self.request_throughput, self.output_throughput, self.total_token_throughput);
        let _ = writeln!(
            t,
            "{} steps{}, mean batch {:.1} tokens / {:.1} seqs | preemptions {} ({} requests, {} tokens recomputed) | prefix cache hit rate {:.1} %",
            self.num_steps,
            if self.empty_steps > 0 { format!(" (+{} empty)", self.empty_steps) } else { String::new() },
            self.mean_batch_tokens,
            self.mean_batch_seqs,
            self.num_preemptions,
            self.preempted_requests,
            self.recomputed_tokens,
            self.prefix_cache.hit_rate * 100.0
        );
        let _ = writeln!(t, "\n{:<8} {:>10} {:>10} {:>10} {:>10} {:>10}", "ms", "mean", "p50", "p90", "p99", "max");
        for (name, l) in [("TTFT", &self.ttft_s), ("TPOT", &self.tpot_s), ("ITL", &self.itl_s), ("E2E", &self.e2e_s)] {
            let _ = writeln!(t, "{name:<8} {:>10} {:>10} {:>10} {:>10} {:>10}", ms(l.mean), ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max));
        }
        for (title, groups) in [("tenant", &self.per_tenant), ("priority", &self.per_priority)] {
            if groups.len() < 2 {
                continue;
            }
            let _ = writeln!(t, "\n{:<12} {:>8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>9} {:>8}", title, "requests", "TTFT mean", "TTFT p99", "TPOT mean", "E2E mean", "E2E p99", "out tok/s", "share");
            for g in groups.iter() {
                let _ = writeln!(
                    t,
                    "{:<12} {:>8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>9.1} {:>7.1}%",
                    g.group,
                    g.num_requests,
                    ms(g.ttft_s.mean),
                    ms(g.ttft_s.p99),
                    ms(g.tpot_s.mean),
                    ms(g.e2e_s.mean),
                    ms(g.e2e_s.p99),
                    g.output_throughput,
                    g.output_share * 100.0
                );
            }
        }
        t
    }
}

/// One line per run: the table researchers paste when comparing policies.
pub fn comparison_table(reports: &[SimulationReport]) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{:<22} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}", "policy", "req/s", "out tok/s", "TTFT mean", "TTFT p99", "TPOT mean", "E2E mean", "E2E p99", "preempt");
    for r in reports {
        let _ = writeln!(
            t,
            "{:<22} {:>9.3} {:>9.1} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
            r.policy,
            r.request_throughput,
            r.output_throughput,
            ms(r.ttft_s.mean),
            ms(r.ttft_s.p99),
            ms(r.tpot_s.mean),
            ms(r.e2e_s.mean),
            ms(r.e2e_s.p99),
            r.num_preemptions
        );
    }
    let _ = writeln!(t, "(latencies in ms)");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear_interpolation() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!((percentile(&v, 90.0) - 3.7).abs() < 1e-12);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert_eq!(percentile(&[5.0], 99.0), 5.0);
        let s = LatencyStats::from_values(&mut [3.0, 1.0, 2.0]);
        assert_eq!((s.count, s.mean, s.p50, s.max), (3, 2.0, 2.0, 3.0));
        assert_eq!(LatencyStats::from_values(&mut []), LatencyStats::default());
    }

    #[test]
    fn request_metrics_follow_the_vllm_definitions() {
        let r = RequestRecord {
            index: 0,
            tenant: "a".into(),
            priority: 0,
            arrival_time: 1.0,
            first_token_time: 1.5,
            finish_time: 3.5,
            prompt_tokens: 10,
            output_tokens: 5,
            cached_tokens: 0,
            preemptions: 0,
            finish_reason: "length".into(),
        };
        assert_eq!((r.ttft(), r.e2e(), r.tpot()), (0.5, 2.5, Some(0.5)));
        let single = RequestRecord { output_tokens: 1, finish_time: 1.5, ..r.clone() };
        assert_eq!(single.tpot(), None);
        let scheduler = SchedulerConfig::default();
        let ctx = RunContext { policy: "fcfs", seed: 0, workload: WorkloadSummary::default(), scheduler: &scheduler, cost_model: CostModelSummary::default() };
        let b = RequestRecord { index: 1, tenant: "b".into(), priority: 1, ..single };
        let report = build_report(ctx, &[r, b], &mut RunCounters { num_steps: 4, computed_tokens: 24, ..Default::default() });
        assert_eq!(report.duration_s, 2.5);
        assert_eq!(report.output_throughput, 6.0 / 2.5);
        assert_eq!(report.per_tenant.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(report.per_priority[1].output_share, 1.0 / 6.0);
        assert_eq!(report.recomputed_tokens, 24 - (14 + 10));
        assert!(report.to_table().contains("TTFT"));
        assert!(comparison_table(&[report]).contains("fcfs"));
    }
}

//! Simulator scenarios: determinism, exact output lengths, scale, visible policy effects, prefix
//! caching, workload files.

use std::time::Instant;

use llmserve_scheduler::simulator::{
    load_workload, parse_shares, simulate, CostCoefficients, PrefixSharing, SimulationConfig, SimulationOutcome, StepCostModel, SyntheticWorkload,
    WorkloadRequest,
};
use llmserve_scheduler::{PolicyKind, SchedulerConfig};

/// A fixed CPU-like model (so the assertions do not move when the committed fit is refreshed).
fn cost_model() -> StepCostModel {
    StepCostModel::from_coefficients(
        CostCoefficients { c0: 4e-3, c_batched_step: 0.0, c_token: 2.8e-3, c_seq: 2e-5, c_logits: 1.5e-3, c_ctx: 3e-7, c_prefill_ctx: 4e-8 },
        "test model",
    )
}

fn config(policy: PolicyKind) -> SimulationConfig {
    SimulationConfig {
        scheduler: SchedulerConfig { policy, ..SchedulerConfig::default() },
        cost_model: cost_model(),
        seed: 0,
        workload_name: "test".into(),
    }
}

fn run(workload: &[WorkloadRequest], policy: PolicyKind) -> SimulationOutcome {
    simulate(workload, &config(policy)).unwrap_or_else(|e| panic!("{policy}: {e}"))
}

fn synthetic(num_requests: usize, request_rate: f64, seed: u64) -> SyntheticWorkload {
    SyntheticWorkload { num_requests, request_rate, seed, ..SyntheticWorkload::default() }
}

/// Mean TTFT (seconds) of the requests matching `pick`.
fn mean_ttft(out: &SimulationOutcome, pick: impl Fn(usize) -> bool) -> f64 {
    let v: Vec<f64> = out.requests.iter().filter(|r| pick(r.index)).map(|r| r.ttft()).collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn same_seed_gives_the_same_report_and_every_request_gets_its_tokens() {
    let mut w = synthetic(1500, 6.0, 11);
    w.tenants = parse_shares("a:0.7,b:0.3", "tenants").unwrap();
    w.prefix = Some(PrefixSharing { num_groups: 3, prefix_len: 64, fraction: 0.3 });
    let workload = w.generate().unwrap();
    for policy in PolicyKind::ALL.map(|(k, _)| k) {
        let a = run(&workload, policy);
        let b = run(&w.generate().unwrap(), policy);
        assert_eq!(serde_json::to_string(&a.report).unwrap(), serde_json::to_string(&b.report).unwrap(), "{policy}");
        assert_eq!(a.requests, b.requests);
        assert_eq!(a.report.completed, workload.len());
        for (r, wr) in a.requests.iter().zip(&workload) {
            assert_eq!(r.output_tokens, wr.output_tokens, "{policy}: request {}", r.index);
            assert_eq!(r.finish_reason, "length");
            assert!(r.first_token_time >= r.arrival_time && r.finish_time >= r.first_token_time);
        }
        assert_eq!(a.report.total_output_tokens, workload.iter().map(|r| r.output_tokens).sum::<usize>());
    }
    // A different seed draws a different workload and a different report.
    let other = run(&synthetic(1500, 6.0, 12).generate().unwrap(), PolicyKind::Fcfs);
    assert_ne!(other.report.ttft_s, run(&synthetic(1500, 6.0, 11).generate().unwrap(), PolicyKind::Fcfs).report.ttft_s);
}

#[test]
fn a_large_overloaded_workload_completes() {
    // 3,000 requests at once (the test profile checks the scheduler's O(blocks) invariants every step;
    // the 10,000-request timing runs by hand in release: `ten_thousand_requests_every_policy_timing`).
    let workload = synthetic(3_000, f64::INFINITY, 1).generate().unwrap();
    let start = Instant::now();
    let out = run(&workload, PolicyKind::Fcfs);
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(out.report.completed, 3_000);
    assert!(out.requests.iter().zip(&workload).all(|(r, w)| r.output_tokens == w.output_tokens));
    assert!(out.report.num_preemptions > 0, "the default cache (16k tokens) is oversubscribed at 64 seqs");
    eprintln!("3k requests: {elapsed:.2} s, {} steps, simulated {:.0} s", out.report.num_steps, out.report.duration_s);
    assert!(elapsed < 60.0, "{elapsed} s");
}

#[test]
fn priority_serves_the_high_class_first_under_overload() {
    let mut w = synthetic(1200, f64::INFINITY, 2);
    w.priorities = parse_shares("0:1,1:1", "priorities").unwrap();
    let workload = w.generate().unwrap();
    let high = |i: usize| workload[i].priority == 0;
    let prio = run(&workload, PolicyKind::Priority);
    let fcfs = run(&workload, PolicyKind::Fcfs);
    let (hi, lo) = (mean_ttft(&prio, high), mean_ttft(&prio, |i| !high(i)));
    assert!(hi < 0.5 * lo, "priority: high {hi:.1} s vs low {lo:.1} s");
    let (fhi, flo) = (mean_ttft(&fcfs, high), mean_ttft(&fcfs, |i| !high(i)));
    assert!((fhi / flo - 1.0).abs() < 0.2, "fcfs treats both alike: {fhi:.1} vs {flo:.1}");
    assert_eq!(prio.report.per_priority.len(), 2);
    assert_eq!(prio.report.per_priority[0].group, "0");
    assert!(prio.report.per_priority[0].ttft_s.mean < prio.report.per_priority[1].ttft_s.mean);
}

#[test]
fn fair_share_protects_the_light_tenant() {
    // Tenant a sends 10× more than b: a alone offers ~3× what the engine serves (~0.63 req/s with
    // this cost model), b ~30 %.
    let mut w = synthetic(1100, 2.0, 3);
    w.tenants = parse_shares("a:10,b:1", "tenants").unwrap();
    let workload = w.generate().unwrap();
    let is_b = |i: usize| workload[i].tenant.as_deref() == Some("b");
    let fair = run(&workload, PolicyKind::FairShare);
    let fcfs = run(&workload, PolicyKind::Fcfs);
    let (b_fair, a_fair) = (mean_ttft(&fair, is_b), mean_ttft(&fair, |i| !is_b(i)));
    let b_fcfs = mean_ttft(&fcfs, is_b);
    assert!(b_fair < 0.25 * b_fcfs, "fair-share b {b_fair:.2} s vs fcfs b {b_fcfs:.2} s");
    assert!(b_fair < 0.25 * a_fair, "fair-share b {b_fair:.2} s vs a {a_fair:.2} s");
    // b's TTFT stays bounded (a few steps' worth), however long a's queue grows.
    let b_p99 = fair.report.per_tenant.iter().find(|g| g.group == "b").map(|g| g.ttft_s.p99).unwrap();
    assert!(b_p99 < 10.0, "b's p99 TTFT {b_p99:.2} s");
    // Everyone is still served: b gets what it asks for.
    let b_share = fair.report.per_tenant.iter().find(|g| g.group == "b").map(|g| g.output_share).unwrap();
    let b_demand = workload.iter().filter(|r| r.tenant.as_deref() == Some("b")).map(|r| r.output_tokens).sum::<usize>() as f64
        / workload.iter().map(|r| r.output_tokens).sum::<usize>() as f64;
    assert!((b_share - b_demand).abs() < 1e-9);
}

#[test]
fn shortest_prompt_first_lowers_mean_ttft_on_a_mixed_workload() {
    let mut w = synthetic(1500, f64::INFINITY, 4);
    w.prompt_len = "lognormal:150:1.2:1500".parse().unwrap();
    let workload = w.generate().unwrap();
    let spf = run(&workload, PolicyKind::ShortestPromptFirst).report;
    let fcfs = run(&workload, PolicyKind::Fcfs).report;
    assert!(spf.ttft_s.mean < 0.9 * fcfs.ttft_s.mean, "spf {:.2} s vs fcfs {:.2} s", spf.ttft_s.mean, fcfs.ttft_s.mean);
}

#[test]
fn shared_prefixes_hit_the_prefix_cache() {
    let mut w = synthetic(800, 4.0, 5);
    w.prefix = Some(PrefixSharing { num_groups: 4, prefix_len: 256, fraction: 1.0 });
    let shared = w.generate().unwrap();
    let out = run(&shared, PolicyKind::Fcfs);
    assert!(out.report.prefix_cache.hit_rate > 0.4, "hit rate {}", out.report.prefix_cache.hit_rate);
    // Almost every request after its group's first finds the 256-token prefix (16 full blocks).
    let hits = out.requests.iter().filter(|r| r.cached_tokens >= 256).count();
    assert!(hits > 700, "{hits} requests hit the prefix");

    let plain = synthetic(800, 4.0, 5).generate().unwrap();
    let out = run(&plain, PolicyKind::Fcfs);
    assert!(out.requests.iter().all(|r| r.cached_tokens == 0), "distinct prompts never share blocks");

    let mut cfg = config(PolicyKind::Fcfs);
    cfg.scheduler.enable_prefix_caching = false;
    let off = simulate(&shared, &cfg).unwrap();
    assert_eq!(off.report.prefix_cache.hit_tokens, 0);
}

#[test]
fn workload_files_load_and_errors_name_the_line() {
    let dir = std::env::temp_dir().join(format!("llmserve-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.jsonl");
    std::fs::write(&good, "{\"arrival_time\": 0, \"prompt_tokens\": 40, \"output_tokens\": 5, \"tenant\": \"x\"}\n{\"arrival_time\": 0.1, \"prompt_tokens\": 30, \"output_tokens\": 2, \"priority\": 1}\n").unwrap();
    let workload = load_workload(&good).unwrap();
    let out = run(&workload, PolicyKind::Priority);
    assert_eq!(out.requests.iter().map(|r| r.output_tokens).collect::<Vec<_>>(), [5, 2]);
    assert_eq!(out.report.per_tenant.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(), ["default", "x"]);

    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"prompt_tokens\": 40, \"output_tokens\": 5}\n{\"prompt_tokens\": 40, \"output_tokens\": \"many\"}\n").unwrap();
    let err = load_workload(&bad).unwrap_err().to_string();
    assert!(err.contains("bad.jsonl, line 2") && err.contains("invalid type"), "{err}");
    let missing = load_workload(&dir.join("nope.jsonl")).unwrap_err().to_string();
    assert!(missing.contains("nope.jsonl"), "{missing}");
    std::fs::remove_dir_all(&dir).ok();

    // A request that can never fit is refused with its index and the limit.
    let huge = vec![WorkloadRequest::new(0.0, 9000, 10)];
    let err = simulate(&huge, &config(PolicyKind::Fcfs)).unwrap_err().to_string();
    assert!(err.contains("request 0") && err.contains("8192"), "{err}");
}

/// Timing of every policy on the 10k overload workload; run by hand in release:
/// `cargo test --release -p llmserve-scheduler --test simulator -- --ignored --nocapture`.
#[test]
#[ignore]
fn ten_thousand_requests_every_policy_timing() {
    let mut w = synthetic(10_000, f64::INFINITY, 1);
    w.tenants = parse_shares("a:0.8,b:0.2", "tenants").unwrap();
    w.priorities = parse_shares("0:0.3,1:0.7", "priorities").unwrap();
    let workload = w.generate().unwrap();
    let only = std::env::var("SIM_POLICY").ok();
    for (policy, name) in PolicyKind::ALL {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let start = Instant::now();
        let out = run(&workload, policy);
        eprintln!("{policy:<22} {:>6.2} s wall, {} steps, {} preemptions", start.elapsed().as_secs_f64(), out.report.num_steps, out.report.num_preemptions);
    }
}

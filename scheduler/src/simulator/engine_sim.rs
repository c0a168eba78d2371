//! The discrete-event engine: the REAL [`Scheduler`] driven by a virtual clock and a step cost model
//! instead of a model runner.
//!
//! One iteration = one engine step, exactly as the engine loop runs it:
//! 1. requests whose `arrival_time ≤ now` are added (in arrival order, ties in workload order);
//!    if nothing is waiting or running, the clock jumps to the next arrival;
//! 2. `schedule()` plans the step;
//! 3. the step's [`StepShape`] (tokens, sequences, sampling sequences, context, prefill attention)
//!    is priced by the [`StepCostModel`] and the clock advances by that much;
//! 4. every request whose scheduled chunk reaches the end of its tokens samples one token (the same
//!    rule as the runner: `num_computed + scheduled == prompt + output so far`); the token is a dummy
//!    id that is never EOS, so a request generates exactly its `output_tokens` (or stops at
//!    `max_model_len`);
//! 5. `update_from_output` applies the tokens; first-token, token and finish times are recorded at
//!    the END of the step (when a streaming client would see them).
//!
//! Requests arriving during a step join at the next one, like a real engine that polls its queue
//! between steps. Everything is deterministic: no wall clock, no hash-order dependence.
//!
//! Complexity: O(steps · batch) here, plus the scheduler's own per-step cost (see `scheduler.rs`).

use rand::{Rng, SeedableRng};

use super::cost_model::StepShape;
use super::report::{build_report, CostModelSummary, RequestRecord, RunContext, RunCounters, WorkloadSummary};
use super::workload::{output_token_id, WorkloadRequest};
use super::{SimulationConfig, SimulationOutcome, SimulatorError};
use crate::ids::RequestId;
use crate::output::ModelRunnerOutput;
use crate::policy::SchedulingPolicy;
use crate::request::{FinishReason, Request};
use crate::sampling_params::SamplingParams;
use crate::scheduler::Scheduler;

/// Per-request progress observed by the loop.
#[derive(Clone, Debug, Default)]
struct Trace {
    num_output: usize,
    cached_tokens: usize,
    preemptions: u32,
    first_token: Option<f64>,
    last_token: f64,
    finish: Option<(f64, FinishReason)>,
    /// `num_computed_tokens` before the current step (filled from the scheduler's output).
    computed_before: usize,
}

/// Computing more than this many times the workload's tokens means the run is not making progress
/// (preemption thrash); the run stops with an error instead of looping forever.
const MAX_WORK_FACTOR: u64 = 64;

/// Consecutive steps that schedule nothing (each preempting one request) before the run is declared
/// stalled; every such step empties one running slot, so more than `max_num_seqs` in a row is a bug.
const MAX_EMPTY_STEPS_IN_A_ROW: u64 = 100_000;

/// Runs `workload` with `policy` (see the module docs). `config.scheduler.policy` is ignored here;
/// the report names `policy.name()`.
pub fn simulate_with_policy(workload: &[WorkloadRequest], config: &SimulationConfig, policy: Box<dyn SchedulingPolicy>) -> Result<SimulationOutcome, SimulatorError> {
    config.cost_model.validate("simulation")?;
    super::workload::validate_workload(workload, &config.workload_name, &[])?;
    let policy_name = policy.name();
    let mut sched = Scheduler::with_policy(config.scheduler.clone(), policy)?;
    let n = workload.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| workload[a].arrival_time.total_cmp(&workload[b].arrival_time));
    let mut traces = vec![Trace::default(); n];
    let mut counters = RunCounters::default();
    let work_limit = MAX_WORK_FACTOR * workload.iter().map(|r| (r.prompt_tokens + r.output_tokens) as u64).sum::<u64>() + 10_000;
    // Dummy output ids come from their own stream so the prompt ids do not depend on them.
    let token_seed = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed).gen::<u64>();

    let mut next = 0;
    let mut now = order.first().map_or(0.0, |&i| workload[i].arrival_time);
    let mut finished = 0;
    let mut empty_in_a_row = 0;
    while finished < n {
        while next < n && workload[order[next]].arrival_time <= now {
            let i = order[next];
            sched.add_request(make_request(i, &workload[i], config.seed)?).map_err(|reason| SimulatorError::Rejected { index: i, reason })?;
            next += 1;
        }
        if !sched.has_unfinished_requests() {
            match order.get(next) {
                Some(&i) => {
                    now = now.max(workload[i].arrival_time);
                    continue;
                }
                None => break,
            }
        }
        let out = sched.schedule();
        for id in &out.preempted_request_ids {
            traces[index(*id)].preemptions += 1;
        }
        if out.is_empty() {
            // A step can legitimately plan nothing: the first running request needed a block and
            // the policy chose it as its own victim (vLLM stops the running pass the same way). The
            // engine would skip the model, so no time passes; the next step goes on without it.
            counters.empty_steps += 1;
            empty_in_a_row += 1;
            if out.preempted_request_ids.is_empty() || empty_in_a_row > MAX_EMPTY_STEPS_IN_A_ROW {
                return Err(SimulatorError::Stalled { step: out.step, time: now, waiting: sched.num_waiting(), running: sched.num_running() });
            }
            continue;
        }
        empty_in_a_row = 0;
        for d in &out.new_requests {
            traces[index(d.request_id)].computed_before = d.num_computed_tokens;
        }
        for d in &out.cached_requests {
            traces[index(d.request_id)].computed_before = d.num_computed_tokens;
        }
        let mut shape = StepShape::default();
        let mut sampled = Vec::new();
        for &(id, num_new) in &out.num_scheduled_tokens {
            let i = index(id);
            let t = &traces[i];
            let samples = t.computed_before + num_new == workload[i].prompt_tokens + t.num_output;
            shape.add_sequence(t.computed_before, num_new, samples);
            if samples {
                sampled.push((id, vec![output_token_id(token_seed, i, t.num_output)]));
            }
        }
        let dt = config.cost_model.step_seconds(&shape);
        now += dt;
        counters.num_steps += 1;
        counters.busy_seconds += dt;
        counters.computed_tokens += shape.num_tokens as u64;
        counters.scheduled_seqs += shape.num_seqs as u64;
        if counters.computed_tokens > work_limit {
            return Err(SimulatorError::NoProgress { computed_tokens: counters.computed_tokens, time: now });
        }
        for o in sched.update_from_output(&out, &ModelRunnerOutput { sampled_token_ids: sampled, ..Default::default() }) {
            let t = &mut traces[index(o.request_id)];
            if !o.new_token_ids.is_empty() {
                match t.first_token {
                    None => t.first_token = Some(now),
                    Some(_) => counters.itls.push(now - t.last_token),
                }
                t.last_token = now;
            }
            t.num_output = o.num_output_tokens;
            t.cached_tokens = o.num_cached_tokens;
            if let Some(reason) = o.finish_reason {
                t.finish = Some((now, reason));
                finished += 1;
            }
        }
    }

    let stats = sched.stats();
    counters.num_preemptions = stats.num_preemptions;
    counters.prefix_cache_queried_tokens = stats.prefix_cache_queried_tokens;
    counters.prefix_cache_hit_tokens = stats.prefix_cache_hit_tokens;
    let records = records(workload, &traces)?;
    let ctx = RunContext {
        policy: policy_name,
        seed: config.seed,
        workload: summarize(workload, &config.workload_name),
        scheduler: &config.scheduler,
        cost_model: CostModelSummary {
            description: config.cost_model.describe(),
            meta: config.cost_model.meta.clone(),
            coefficients: config.cost_model.coefficients,
        },
    };
    let report = build_report(ctx, &records, &mut counters);
    Ok(SimulationOutcome { report, requests: records })
}

fn index(id: RequestId) -> usize {
    id.0 as usize
}

fn make_request(i: usize, w: &WorkloadRequest, seed: u64) -> Result<Request, SimulatorError> {
    let max_tokens = u32::try_from(w.output_tokens).map_err(|_| SimulatorError::OutputTooLong { index: i, output_tokens: w.output_tokens })?;
    let params = SamplingParams { temperature: 0.0, max_tokens, ignore_eos: true, ..SamplingParams::default() };
    let mut request = Request::new(RequestId(i as u64), w.prompt_token_ids(i, seed), params, w.arrival_time).with_priority(w.priority);
    if let Some(tenant) = &w.tenant {
        request = request.with_tenant(tenant.as_str());
    }
    Ok(request)
}

fn records(workload: &[WorkloadRequest], traces: &[Trace]) -> Result<Vec<RequestRecord>, SimulatorError> {
    workload
        .iter()
        .zip(traces)
        .enumerate()
        .map(|(i, (w, t))| {
            let (Some(first), Some((finish, reason))) = (t.first_token, t.finish) else {
                return Err(SimulatorError::Unfinished { index: i });
            };
            Ok(RequestRecord {
                index: i,
                tenant: w.tenant_name().to_string(),
                priority: w.priority,
                arrival_time: w.arrival_time,
                first_token_time: first,
                finish_time: finish,
                prompt_tokens: w.prompt_tokens,
                output_tokens: t.num_output,
                cached_tokens: t.cached_tokens,
                preemptions: t.preemptions,
                finish_reason: reason.as_str().to_string(),
            })
        })
        .collect()
}

fn summarize(workload: &[WorkloadRequest], description: &str) -> WorkloadSummary {
    let n = workload.len().max(1) as f64;
    let first = workload.iter().map(|r| r.arrival_time).fold(f64::INFINITY, f64::min);
    let last = workload.iter().map(|r| r.arrival_time).fold(0.0, f64::max);
    let span = last - first;
    WorkloadSummary {
        description: description.to_string(),
        num_requests: workload.len(),
        mean_prompt_tokens: workload.iter().map(|r| r.prompt_tokens as f64).sum::<f64>() / n,
        mean_output_tokens: workload.iter().map(|r| r.output_tokens as f64).sum::<f64>() / n,
        last_arrival_s: last,
        offered_rate: if span > 0.0 { (workload.len() - 1) as f64 / span } else { f64::INFINITY },
    }
}

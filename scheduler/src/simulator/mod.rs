//! The serving simulator: the REAL continuous-batching [`Scheduler`](crate::Scheduler) and its
//! policies, driven by a virtual clock and a fitted step cost model instead of a model. Researchers
//! compare scheduling policies on a laptop: a 10,000-request workload simulates in seconds.
//!
//! - [`workload`]: what arrives (a JSON / JSONL file format, token-id materialisation that makes the
//!   prefix cache behave as in a real run).
//! - [`synthetic`]: seeded synthetic workloads (Poisson arrivals, ShareGPT-like lengths as in vLLM's
//!   benchmark, tenant / priority mixes, shared prefixes).
//! - [`cost_model`]: step time = c0 + c_batched_step·[tokens > 1] + c_token·tokens + c_seq·seqs +
//!   c_logits·sampling seqs + c_ctx·context + c_prefill_ctx·prefill attention; loaded from JSON with
//!   its provenance; the CPU fit for the default model is embedded ([`StepCostModel::cpu_default`]).
//! - [`fit`]: the relative-error least-squares fit (with non-negative clamping) that produces one.
//! - [`engine_sim`]: the discrete-event step loop.
//! - [`report`]: TTFT / TPOT / ITL / E2E and throughputs as vLLM's `benchmark_serving.py` defines
//!   them, per-tenant and per-priority breakdowns, the human table and the JSON report.
//!
//! What it does NOT model: tokenisation, detokenisation and HTTP time; the time between steps spent
//! in the scheduler itself (included only insofar as the calibration measured it); EOS (outputs have
//! the workload's exact lengths); stop strings. The fair-share policy is VTC (Sheng et al., "Fairness
//! in Serving Large Language Models", OSDI 2024); see `crate::policy`.
//!
//! Determinism: a run is a pure function of (workload, scheduler config, policy, cost model, seed).

pub mod cost_model;
pub mod engine_sim;
pub mod fit;
pub mod report;
pub mod synthetic;
pub mod workload;

pub use cost_model::{CostCoefficients, CostModelError, CostModelMeta, CostSample, StepCostModel, StepShape};
pub use engine_sim::simulate_with_policy;
pub use fit::{fit_coefficients, FitError, FitQuality};
pub use report::{comparison_table, GroupReport, LatencyStats, RequestRecord, SimulationReport};
pub use synthetic::{parse_shares, LengthDistribution, PrefixSharing, Share, SyntheticWorkload};
pub use workload::{load_workload, parse_workload, SharedPrefix, WorkloadError, WorkloadRequest};

use crate::config::{SchedulerConfig, SchedulerConfigError};
use crate::scheduler::AddRequestError;

/// Everything a run needs besides the workload and the policy.
#[derive(Clone, Debug)]
pub struct SimulationConfig {
    /// The scheduler under test (its `policy` field picks the policy in [`simulate`]).
    pub scheduler: SchedulerConfig,
    /// Prices each step.
    pub cost_model: StepCostModel,
    /// Seeds the prompt and output token ids (only prefix-cache behaviour depends on them).
    pub seed: u64,
    /// Names the workload in reports and errors (a file path, "synthetic …").
    pub workload_name: String,
}

/// A run's report and what happened to every request.
#[derive(Clone, Debug)]
pub struct SimulationOutcome {
    pub report: SimulationReport,
    /// One record per workload request, in workload order.
    pub requests: Vec<RequestRecord>,
}

/// Why a simulation could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error(transparent)]
    Config(#[from] SchedulerConfigError),
    #[error(transparent)]
    CostModel(#[from] CostModelError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("workload request {index} was refused by the scheduler: {reason} (raise --max-model-len / --num-blocks or shorten the request)")]
    Rejected { index: usize, reason: AddRequestError },
    #[error("workload request {index}: output_tokens = {output_tokens} exceeds the u32 limit of max_tokens")]
    OutputTooLong { index: usize, output_tokens: usize },
    #[error("step {step} at t = {time:.3} s scheduled nothing with {waiting} waiting and {running} running requests (scheduler stalled)")]
    Stalled { step: u64, time: f64, waiting: usize, running: usize },
    #[error("no progress: {computed_tokens} tokens computed by t = {time:.3} s, far more than the workload holds (preemption thrash?)")]
    NoProgress { computed_tokens: u64, time: f64 },
    #[error("request {index} never finished")]
    Unfinished { index: usize },
}

/// Runs `workload` under `config.scheduler.policy`.
pub fn simulate(workload: &[WorkloadRequest], config: &SimulationConfig) -> Result<SimulationOutcome, SimulatorError> {
    simulate_with_policy(workload, config, config.scheduler.policy.build())
}

//! `llmserve simulate`: runs the real scheduler on a workload with a step cost model instead of a
//! model, and reports TTFT / TPOT / ITL / E2E percentiles, throughput, preemptions, prefix-cache hits
//! and per-tenant / per-priority breakdowns (see `docs/simulator.md`). Several policies
//! (`--policy fcfs,priority` or `--policy all`) run on the same workload and end with a comparison
//! table. No model and no GPU are needed; runs are deterministic for a seed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use llmserve_scheduler::simulator::{
    comparison_table, load_workload, parse_shares, simulate, workload::to_jsonl, LengthDistribution, PrefixSharing, RequestRecord, SimulationConfig,
    SimulationOutcome, StepCostModel, SyntheticWorkload, WorkloadRequest,
};
use llmserve_scheduler::{PolicyKind, SchedulerConfig};
use serde::Serialize;

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Scheduling policy (fcfs, priority, fair-share, shortest-prompt-first); several separated by
    /// commas, or `all`, run on the same workload and are compared.
    #[arg(long, env = "LLMSERVE_POLICY", default_value = "fcfs")]
    pub policy: String,
    /// `synthetic`, or a workload file (JSON array or JSON Lines; format in docs/simulator.md).
    #[arg(long, env = "LLMSERVE_WORKLOAD", default_value = "synthetic")]
    pub workload: String,
    /// Synthetic workload: number of requests.
    #[arg(long = "num-requests", env = "LLMSERVE_NUM_REQUESTS", default_value_t = 1000)]
    pub num_requests: usize,
    /// Synthetic workload: requests per second (Poisson arrivals); `inf` sends all at t = 0.
    #[arg(long = "request-rate", env = "LLMSERVE_REQUEST_RATE", default_value = "inf")]
    pub request_rate: f64,
    /// Seed of the synthetic workload and of the token ids.
    #[arg(long, env = "LLMSERVE_SEED", default_value_t = 0)]
    pub seed: u64,
    /// Synthetic prompt lengths: sharegpt | fixed:N | uniform:MIN:MAX | lognormal:MEDIAN:SIGMA[:MAX].
    #[arg(long = "prompt-len", env = "LLMSERVE_PROMPT_LEN", default_value = "sharegpt")]
    pub prompt_len: String,
    /// Synthetic output lengths (same forms as --prompt-len).
    #[arg(long = "output-len", env = "LLMSERVE_OUTPUT_LEN", default_value = "sharegpt")]
    pub output_len: String,
    /// Synthetic tenant mix, e.g. `a:0.8,b:0.2` (weights are normalised).
    #[arg(long, env = "LLMSERVE_TENANTS")]
    pub tenants: Option<String>,
    /// Synthetic priority mix, e.g. `0:0.2,1:0.8` (lower priority values are served first).
    #[arg(long, env = "LLMSERVE_PRIORITIES")]
    pub priorities: Option<String>,
    /// Synthetic shared prefixes: number of prefix groups (0 = none).
    #[arg(long = "prefix-groups", env = "LLMSERVE_PREFIX_GROUPS", default_value_t = 0)]
    pub prefix_groups: u32,
    /// Tokens of each shared prefix (prepended to the sampled prompt).
    #[arg(long = "prefix-len", env = "LLMSERVE_PREFIX_LEN", default_value_t = 256)]
    pub prefix_len: usize,
    /// Fraction of requests that belong to a prefix group.
    #[arg(long = "prefix-fraction", env = "LLMSERVE_PREFIX_FRACTION", default_value_t = 1.0)]
    pub prefix_fraction: f64,
    /// Write the workload that was run as JSON Lines (replay it with --workload FILE).
    #[arg(long = "save-workload", env = "LLMSERVE_SAVE_WORKLOAD")]
    pub save_workload: Option<PathBuf>,

    /// Most requests running at once.
    #[arg(long = "max-num-seqs", env = "LLMSERVE_MAX_NUM_SEQS", default_value_t = SchedulerConfig::default().max_num_seqs)]
    pub max_num_seqs: usize,
    /// Token budget of one step (prefill chunks + decodes).
    #[arg(long = "max-num-batched-tokens", env = "LLMSERVE_MAX_NUM_BATCHED_TOKENS", default_value_t = SchedulerConfig::default().max_num_batched_tokens)]
    pub max_num_batched_tokens: usize,
    /// Most prompt tokens one request may prefill per step (unset: only the budget limits it).
    #[arg(long = "long-prefill-token-threshold", env = "LLMSERVE_LONG_PREFILL_TOKEN_THRESHOLD")]
    pub long_prefill_token_threshold: Option<usize>,
    /// Tokens per KV-cache block.
    #[arg(long = "block-size", env = "LLMSERVE_BLOCK_SIZE", default_value_t = SchedulerConfig::default().block_size)]
    pub block_size: usize,
    /// KV-cache blocks (default: 1024, or --kv-cache-tokens / --block-size).
    #[arg(long = "num-blocks", env = "LLMSERVE_NUM_BLOCKS", conflicts_with = "kv_cache_tokens")]
    pub num_blocks: Option<usize>,
    /// KV-cache size in tokens (rounded up to whole blocks).
    #[arg(long = "kv-cache-tokens", env = "LLMSERVE_KV_CACHE_TOKENS")]
    pub kv_cache_tokens: Option<usize>,
    /// Context length: a request stops when prompt + output reaches it.
    #[arg(long = "max-model-len", env = "LLMSERVE_MAX_MODEL_LEN", default_value_t = SchedulerConfig::default().max_model_len)]
    pub max_model_len: usize,
    /// Disable prefix caching.
    #[arg(long = "no-prefix-caching", env = "LLMSERVE_NO_PREFIX_CACHING")]
    pub no_prefix_caching: bool,

    /// Step cost model: a JSON file, or `cpu-default` (the committed CPU fit, embedded).
    #[arg(long = "cost-model", env = "LLMSERVE_COST_MODEL", default_value = "cpu-default")]
    pub cost_model: String,
    /// Print the JSON report on stdout instead of the tables (an array when several policies run).
    #[arg(long, env = "LLMSERVE_JSON")]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, short = 'o', env = "LLMSERVE_OUTPUT")]
    pub output: Option<PathBuf>,
    /// Write one JSON line per request (times, tokens, preemptions) to this file.
    #[arg(long = "requests-out", env = "LLMSERVE_REQUESTS_OUT")]
    pub requests_out: Option<PathBuf>,
}

/// Parses `--policy`: one name, a comma-separated list, or `all`.
fn parse_policies(s: &str) -> Result<Vec<PolicyKind>> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(PolicyKind::ALL.iter().map(|(k, _)| *k).collect());
    }
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind: PolicyKind = name.parse()?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    if out.is_empty() {
        bail!("--policy is empty; known policies: {}", PolicyKind::ALL.map(|(_, n)| n).join(", "));
    }
    Ok(out)
}

impl SimulateArgs {
    fn scheduler_config(&self) -> Result<SchedulerConfig> {
        if self.block_size == 0 {
            bail!("--block-size must be at least 1");
        }
        let num_blocks = match (self.num_blocks, self.kv_cache_tokens) {
            (Some(n), _) => n,
            (None, Some(tokens)) => tokens.div_ceil(self.block_size),
            (None, None) => SchedulerConfig::default().num_blocks,
        };
        let config = SchedulerConfig {
            max_num_seqs: self.max_num_seqs,
            max_num_batched_tokens: self.max_num_batched_tokens,
            long_prefill_token_threshold: self.long_prefill_token_threshold,
            block_size: self.block_size,
            num_blocks,
            max_model_len: self.max_model_len,
            enable_prefix_caching: !self.no_prefix_caching,
            policy: PolicyKind::Fcfs,
        };
        config.validate()?;
        Ok(config)
    }

    fn cost_model(&self) -> Result<StepCostModel> {
        Ok(match self.cost_model.as_str() {
            "cpu-default" => StepCostModel::cpu_default()?,
            path => StepCostModel::load(Path::new(path))?,
        })
    }

    /// The workload and its name in reports.
    fn workload(&self) -> Result<(Vec<WorkloadRequest>, String)> {
        if self.workload != "synthetic" {
            let path = PathBuf::from(&self.workload);
            if !path.exists() {
                bail!("--workload {:?} is neither `synthetic` nor an existing file", self.workload);
            }
            return Ok((load_workload(&path)?, self.workload.clone()));
        }
        let synthetic = SyntheticWorkload {
            num_requests: self.num_requests,
            request_rate: self.request_rate,
            prompt_len: self.prompt_len.parse::<LengthDistribution>().context("--prompt-len")?,
            output_len: self.output_len.parse::<LengthDistribution>().context("--output-len")?,
            tenants: match &self.tenants {
                Some(s) => parse_shares(s, "--tenants")?,
                None => Vec::new(),
            },
            priorities: match &self.priorities {
                Some(s) => parse_shares(s, "--priorities")?,
                None => Vec::new(),
            },
            prefix: (self.prefix_groups > 0).then_some(PrefixSharing {
                num_groups: self.prefix_groups,
                prefix_len: self.prefix_len,
                fraction: self.prefix_fraction,
            }),
            seed: self.seed,
        };
        let mut name = format!(
            "synthetic(n={}, rate={}, prompt={}, output={}, seed={}",
            self.num_requests, self.request_rate, synthetic.prompt_len, synthetic.output_len, self.seed
        );
        if let Some(t) = &self.tenants {
            name.push_str(&format!(", tenants={t}"));
        }
        if let Some(p) = &self.priorities {
            name.push_str(&format!(", priorities={p}"));
        }
        if self.prefix_groups > 0 {
            name.push_str(&format!(", prefix={}x{}@{}", self.prefix_groups, self.prefix_len, self.prefix_fraction));
        }
        name.push(')');
        Ok((synthetic.generate()?, name))
    }
}

/// A per-request line of `--requests-out`.
#[derive(Serialize)]
struct RequestLine<'a> {
    policy: &'a str,
    ttft: f64,
    e2e: f64,
    tpot: Option<f64>,
    #[serde(flatten)]
    record: &'a RequestRecord,
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let policies = parse_policies(&args.policy)?;
    let scheduler = args.scheduler_config()?;
    let cost_model = args.cost_model()?;
    let (workload, name) = args.workload()?;
    if let Some(path) = &args.save_workload {
        std::fs::write(path, to_jsonl(&workload)).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut outcomes: Vec<SimulationOutcome> = Vec::new();
    for &policy in &policies {
        let config = SimulationConfig {
            scheduler: SchedulerConfig { policy, ..scheduler.clone() },
            cost_model: cost_model.clone(),
            seed: args.seed,
            workload_name: name.clone(),
        };
        let start = Instant::now();
        let outcome = simulate(&workload, &config).with_context(|| format!("simulating policy {policy}"))?;
        eprintln!(
            "simulated {} requests with {policy} in {:.2} s ({} steps, {:.0} s of simulated time)",
            workload.len(),
            start.elapsed().as_secs_f64(),
            outcome.report.num_steps,
            outcome.report.duration_s
        );
        outcomes.push(outcome);
    }

    let reports: Vec<_> = outcomes.iter().map(|o| &o.report).collect();
    let json = if reports.len() == 1 { serde_json::to_string_pretty(reports[0])? } else { serde_json::to_string_pretty(&reports)? };
    if let Some(path) = &args.output {
        std::fs::write(path, format!("{json}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.requests_out {
        let mut text = String::new();
        for o in &outcomes {
            for r in &o.requests {
                let line = RequestLine { policy: &o.report.policy, ttft: r.ttft(), e2e: r.e2e(), tpot: r.tpot(), record: r };
                text.push_str(&serde_json::to_string(&line)?);
                text.push('\n');
            }
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print!("{}", r.to_table());
        }
        if reports.len() > 1 {
            println!();
            print!("{}", comparison_table(&outcomes.iter().map(|o| o.report.clone()).collect::<Vec<_>>()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_lists_parse_and_unknown_names_list_the_known_ones() {
        assert_eq!(parse_policies("all").unwrap().len(), 4);
        assert_eq!(parse_policies("fcfs, sjf,fcfs").unwrap(), [PolicyKind::Fcfs, PolicyKind::ShortestPromptFirst]);
        let err = parse_policies("fcfs,lottery").unwrap_err().to_string();
        assert!(err.contains("lottery") && err.contains("fair-share"), "{err}");
        assert!(parse_policies(" , ").is_err());
    }
}

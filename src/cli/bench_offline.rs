//! `llmserve bench offline`: engine throughput in-process, no HTTP — every request of the workload
//! submitted at once, measured from the first submit to the last finished stream, reported as
//! `vllm bench throughput` reports it (requests/s, total tokens/s, output tokens/s). Sampling is
//! greedy with EOS ignored, so every request generates its output length (vLLM's throughput benchmark
//! ignores EOS too). The same workloads as `bench serve`, tokenized by the model's own tokenizer.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use llmserve_bench::dataset::args::WorkloadArgs;
use llmserve_engine::cuda::ResolvedDevice;
use llmserve_engine::{CpuBackendConfig, EngineConfig, EngineHandle, EngineRequest, StreamEvent};
use llmserve_scheduler::{SamplingParams, SchedulerConfig};
use serde::Serialize;

use super::bench::ModelPromptTokenizer;
use super::model_args::ModelArgs;

#[derive(Args, Debug)]
pub struct OfflineArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Most sequences in one engine step.
    #[arg(long = "max-num-seqs", default_value_t = 256)]
    pub max_num_seqs: usize,
    /// Token budget of one engine step.
    #[arg(long = "max-num-batched-tokens", default_value_t = 2048)]
    pub max_num_batched_tokens: usize,
    /// KV-cache size in tokens (CPU backend).
    #[arg(long = "kv-cache-tokens", default_value_t = llmserve_engine::handle::DEFAULT_CPU_KV_CACHE_TOKENS)]
    pub kv_cache_tokens: usize,
    /// Fraction of GPU memory the CUDA backend may use.
    #[arg(long = "gpu-memory-utilization", default_value_t = 0.9)]
    pub gpu_memory_utilization: f64,
    /// Turn off prefix caching.
    #[arg(long = "no-prefix-caching")]
    pub no_prefix_caching: bool,
    /// Write the result as JSON to this file.
    #[arg(long = "output-json")]
    pub output_json: Option<PathBuf>,
}

/// vLLM's `bench throughput` JSON fields, plus the workload and the machine.
#[derive(Debug, Serialize)]
struct OfflineResult {
    elapsed_time: f64,
    num_requests: usize,
    total_num_tokens: usize,
    total_output_tokens: usize,
    requests_per_second: f64,
    tokens_per_second: f64,
    output_tokens_per_second: f64,
    dataset_name: &'static str,
    model: String,
    device: String,
    hardware: String,
    hardware_class: String,
}

pub fn run(args: OfflineArgs) -> Result<()> {
    if args.max_num_seqs == 0 || args.max_num_batched_tokens == 0 {
        bail!("--max-num-seqs and --max-num-batched-tokens must be at least 1");
    }
    let model = args.model.load()?;
    let tokenizer = model.tokenizer.clone().context("bench offline needs the model's tokenizer (pass --tokenizer DIR)")?;
    let prompt_tokenizer = ModelPromptTokenizer(tokenizer.clone());
    let spec = args.workload.spec()?;
    let requests = spec.build(args.workload.num_prompts, &prompt_tokenizer, args.workload.seed)?;
    let prompts: Vec<Vec<u32>> = requests.iter().map(|r| tokenizer.encode(&r.prompt, false)).collect::<Result<_, _>>()?;
    let defaults = EngineConfig::default();
    let config = EngineConfig {
        precision: args.model.precision(),
        cpu: CpuBackendConfig { threads: args.model.threads, kv_cache_tokens: args.kv_cache_tokens, ..defaults.cpu },
        scheduler: SchedulerConfig {
            max_num_seqs: args.max_num_seqs,
            max_num_batched_tokens: args.max_num_batched_tokens,
            enable_prefix_caching: !args.no_prefix_caching,
            ..defaults.scheduler
        },
        ..defaults
    };
    let device = args.model.resolve_device()?;
    let engine = match device {
        ResolvedDevice::Cpu => EngineHandle::cpu(&model, config)?,
        ResolvedDevice::Cuda => super::serve::cuda_engine(&model, config, args.gpu_memory_utilization, None)?,
    };
    eprintln!("{} requests ({} dataset) submitted at once to the {device:?} engine", prompts.len(), spec.name());
    let start = Instant::now();
    let streams = prompts
        .iter()
        .zip(&requests)
        .map(|(p, r)| {
            let params = SamplingParams { ignore_eos: true, ..SamplingParams::greedy(r.output_len) };
            engine.submit(EngineRequest::new(p.clone(), params))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (mut prompt_tokens, mut output_tokens) = (0usize, 0usize);
    for mut stream in streams {
        while let Some(event) = stream.recv_blocking() {
            match event {
                StreamEvent::Error { message, .. } => bail!("a request failed in the engine: {message}"),
                StreamEvent::Finished { usage, .. } => {
                    prompt_tokens += usage.prompt_tokens;
                    output_tokens += usage.completion_tokens;
                }
                StreamEvent::Tokens { .. } | StreamEvent::PromptLogprobs { .. } => {}
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    engine.shutdown();
    let total = prompt_tokens + output_tokens;
    let result = OfflineResult {
        elapsed_time: elapsed,
        num_requests: prompts.len(),
        total_num_tokens: total,
        total_output_tokens: output_tokens,
        requests_per_second: prompts.len() as f64 / elapsed,
        tokens_per_second: total as f64 / elapsed,
        output_tokens_per_second: output_tokens as f64 / elapsed,
        dataset_name: spec.name(),
        model: model.id.clone(),
        device: format!("{device:?}"),
        hardware: llmserve_bench::hardware::default_hardware(),
        hardware_class: llmserve_bench::hardware::default_hardware_class(),
    };
    println!(
        "Throughput: {:.2} requests/s, {:.2} total tokens/s, {:.2} output tokens/s ({} prompt + {} output tokens in {:.2} s)",
        result.requests_per_second, result.tokens_per_second, result.output_tokens_per_second, prompt_tokens, output_tokens, elapsed
    );
    if let Some(path) = &args.output_json {
        llmserve_bench::runner::write_json(path, &result)?;
    }
    Ok(())
}

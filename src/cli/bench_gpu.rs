//! `llmserve bench-gpu` (feature `cuda`): the CUDA backend's speed on a (usually synthetic) model,
//! driven directly through `ModelRunner::execute` with hand-built scheduler outputs — the same path
//! the engine takes, sampling and the token copy included, without the scheduler's own cost.
//!
//! Measures, after warm-up, the median over `--steps` steps (each step ends with the sampled token
//! ids copied to the host, a synchronizing copy, so wall-clock times are device times):
//! - batch-1 decode inter-token latency at a context of `--context` tokens;
//! - prefill throughput of one `--prompt-tokens` prompt (one step, a fresh request each time);
//! - decode throughput at each `--batches` size with `--context` tokens of context per sequence
//!   (contexts are prefilled first, chunked by `--max-num-batched-tokens`, so attention reads real
//!   KV data).
//!
//! Prints a short table last. Reference: vLLM `benchmarks/benchmark_latency.py`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use llmserve_engine::cuda::{CudaModelRunner, CudaRunnerConfig};
use llmserve_engine::ModelRunner;
use llmserve_scheduler::{BlockId, CachedRequestData, NewRequestData, RequestId, SamplingParams, SchedulerOutput};

use super::model_args::ModelArgs;

#[derive(Args, Debug)]
pub struct BenchGpuArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt length of the prefill measurement.
    #[arg(long = "prompt-tokens", default_value_t = 2048)]
    pub prompt_tokens: usize,
    /// Context per sequence of the decode measurements.
    #[arg(long, default_value_t = 256)]
    pub context: usize,
    /// Decode batch sizes besides batch 1 (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
    pub batches: Vec<usize>,
    /// Measured steps per measurement (median reported).
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Unmeasured warm-up steps per measurement.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Most tokens per step (prefill chunks); at least --prompt-tokens.
    #[arg(long = "max-num-batched-tokens", default_value_t = 8192)]
    pub max_num_batched_tokens: usize,
    /// Fraction of device memory for weights, buffers and KV cache.
    #[arg(long = "gpu-memory-utilization", env = "LLMSERVE_GPU_MEMORY_UTILIZATION", default_value_t = 0.9)]
    pub gpu_memory_utilization: f64,
    /// Tokens per KV block.
    #[arg(long = "block-size", default_value_t = 16)]
    pub block_size: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// What the driver tracks per request (the part of the scheduler's state the runner checks).
struct Tracked {
    id: RequestId,
    prompt_len: usize,
    /// Tokens with KV.
    computed: usize,
    /// Prompt + sampled tokens.
    known: usize,
}

/// Builds scheduler outputs for a fixed set of requests: chunked prefill, then decode steps.
struct Driver {
    block_size: usize,
    budget: usize,
    next_id: u64,
    next_block: u32,
    requests: Vec<Tracked>,
    /// New requests not yet sent to the runner.
    pending_new: Vec<NewRequestData>,
}

impl Driver {
    fn new(block_size: usize, budget: usize) -> Driver {
        Driver { block_size, budget, next_id: 0, next_block: 0, requests: Vec::new(), pending_new: Vec::new() }
    }

    /// Admits `count` greedy requests of `prompt_len` random tokens, each with blocks for
    /// `prompt_len + max_new` tokens. Blocks are handed out from 0 (call after [`Driver::finish_all`]).
    fn admit(&mut self, count: usize, prompt_len: usize, max_new: usize, vocab: usize, num_blocks: usize) -> Result<()> {
        let per = (prompt_len + max_new).div_ceil(self.block_size);
        if self.next_block as usize + count * per > num_blocks {
            bail!("{count} sequences of {} tokens need {} KV blocks, the cache has {num_blocks}", prompt_len + max_new, count * per);
        }
        let params = Arc::new(SamplingParams { ignore_eos: true, ..SamplingParams::greedy(max_new as u32) });
        for _ in 0..count {
            let id = RequestId(self.next_id);
            self.next_id += 1;
            let tokens: Vec<u32> = (0..prompt_len).map(|i| ((id.0 as usize * 7919 + i * 104729) % vocab) as u32).collect();
            let blocks = (self.next_block..self.next_block + per as u32).map(BlockId).collect();
            self.next_block += per as u32;
            self.pending_new.push(NewRequestData {
                request_id: id,
                token_ids: tokens,
                num_prompt_tokens: prompt_len,
                sampling_params: Arc::clone(&params),
                block_ids: blocks,
                num_computed_tokens: 0,
            });
            self.requests.push(Tracked { id, prompt_len, computed: 0, known: prompt_len });
        }
        Ok(())
    }

    /// The next step: every request gets what it can compute (prompt chunks within the budget, or
    /// one decode token), in admission order.
    fn next_output(&mut self) -> SchedulerOutput {
        let mut out = SchedulerOutput { new_requests: std::mem::take(&mut self.pending_new), ..Default::default() };
        let new_ids: Vec<RequestId> = out.new_requests.iter().map(|n| n.request_id).collect();
        let mut budget = self.budget;
        for r in &mut self.requests {
            let want = r.known - r.computed;
            let n = want.min(budget);
            if n == 0 {
                continue;
            }
            if !new_ids.contains(&r.id) {
                out.cached_requests.push(CachedRequestData { request_id: r.id, new_block_ids: Vec::new(), num_computed_tokens: r.computed });
            }
            out.num_scheduled_tokens.push((r.id, n));
            out.total_num_scheduled_tokens += n;
            r.computed += n;
            budget -= n;
        }
        out
    }

    fn apply(&mut self, result: &llmserve_scheduler::ModelRunnerOutput) {
        for (id, toks) in &result.sampled_token_ids {
            if let Some(r) = self.requests.iter_mut().find(|r| r.id == *id) {
                r.known += toks.len();
            }
        }
    }

    /// Steps until every prompt is computed (its first token sampled).
    fn prefill(&mut self, runner: &mut CudaModelRunner) -> Result<()> {
        while self.requests.iter().any(|r| r.computed < r.prompt_len) || !self.pending_new.is_empty() {
            let out = self.next_output();
            let result = runner.execute(&out)?;
            self.apply(&result);
        }
        Ok(())
    }

    /// One timed step (seconds).
    fn timed_step(&mut self, runner: &mut CudaModelRunner) -> Result<f64> {
        let out = self.next_output();
        let t = Instant::now();
        let result = runner.execute(&out)?;
        let dt = t.elapsed().as_secs_f64();
        self.apply(&result);
        Ok(dt)
    }

    /// Ends every request (the runner drops their state) and frees all blocks.
    fn finish_all(&mut self, runner: &mut CudaModelRunner) -> Result<()> {
        let out = SchedulerOutput { finished_request_ids: self.requests.iter().map(|r| r.id).collect(), ..Default::default() };
        runner.execute(&out)?;
        self.requests.clear();
        self.next_block = 0;
        Ok(())
    }
}

struct Row {
    what: String,
    value: String,
}

pub fn run(args: BenchGpuArgs) -> Result<()> {
    if args.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let max_batch = args.batches.iter().copied().chain([1]).max().unwrap_or(1);
    if args.max_num_batched_tokens < args.prompt_tokens.max(max_batch) {
        bail!("--max-num-batched-tokens {} must hold the prompt ({}) and the largest batch ({max_batch})", args.max_num_batched_tokens, args.prompt_tokens);
    }
    // Fail before loading (a synthetic 8B model takes a while to build).
    if let Some(why) = llmserve_engine::cuda::device::cuda_unavailable_reason() {
        bail!("bench-gpu needs a usable GPU: {why}");
    }
    let model = args.model.load()?;
    let cfg = &model.config;
    let longest = args.prompt_tokens.max(args.context + args.warmup + args.steps + 1);
    if longest > cfg.max_position_embeddings {
        bail!("{longest} tokens exceed the model's context length {}", cfg.max_position_embeddings);
    }
    let rc = CudaRunnerConfig {
        block_size: args.block_size,
        max_num_seqs: max_batch,
        max_num_batched_tokens: args.max_num_batched_tokens,
        gpu_memory_utilization: args.gpu_memory_utilization,
        ..Default::default()
    };
    let t = Instant::now();
    let mut runner = CudaModelRunner::new(&model.tensors, cfg, &rc).context("starting the CUDA backend")?;
    drop(model.tensors);
    eprintln!(
        "[{}: {:.2} GB weights, {:.2} GB KV cache ({} blocks of {}), bf16 on {}, ready in {:.1} s]",
        model.id,
        runner.weight_bytes() as f64 / 1e9,
        runner.kv_cache_bytes() as f64 / 1e9,
        runner.num_blocks(),
        runner.block_size(),
        runner.arch(),
        t.elapsed().as_secs_f64()
    );
    let vocab = runner.vocab_size();
    let num_blocks = runner.num_blocks();
    let mut rows = Vec::new();
    let mut drv = Driver::new(args.block_size, args.max_num_batched_tokens);
    let gen = args.warmup + args.steps + 1;

    // Decode at batch 1 and the requested batch sizes.
    for &batch in std::iter::once(&1).chain(args.batches.iter()) {
        drv.admit(batch, args.context, gen, vocab, num_blocks)?;
        drv.prefill(&mut runner)?;
        let mut times = Vec::new();
        for i in 0..args.warmup + args.steps {
            let dt = drv.timed_step(&mut runner)?;
            if i >= args.warmup {
                times.push(dt);
            }
        }
        drv.finish_all(&mut runner)?;
        let med = median(times);
        eprintln!("decode batch {batch}: median step {:.3} ms", med * 1e3);
        rows.push(Row {
            what: format!("decode batch {batch:<4} ctx {}", args.context),
            value: format!("{:>9.2} ms/step {:>10.1} tok/s", med * 1e3, batch as f64 / med),
        });
    }

    // Prefill of one prompt (a fresh request each run).
    if args.prompt_tokens > 0 {
        let mut times = Vec::new();
        for i in 0..args.warmup + args.steps {
            drv.admit(1, args.prompt_tokens, 1, vocab, num_blocks)?;
            let dt = drv.timed_step(&mut runner)?;
            drv.finish_all(&mut runner)?;
            if i >= args.warmup {
                times.push(dt);
            }
        }
        let med = median(times);
        rows.push(Row {
            what: format!("prefill {} tokens", args.prompt_tokens),
            value: format!("{:>9.2} ms      {:>10.1} tok/s", med * 1e3, args.prompt_tokens as f64 / med),
        });
    }

    println!("bench-gpu | {} | {} | median of {} steps after {} warm-up", cfg.model_type, runner.arch(), args.steps, args.warmup);
    for r in rows {
        println!("{:<34} {}", r.what, r.value);
    }
    Ok(())
}

//! `llmserve bench-streams`: aggregate decode throughput of the continuous-batching engine with N
//! concurrent streams, measured like the llama-server table in `shared/reference/llamacpp-cpu.md`:
//! every stream has a ~235-token prompt and generates 128 tokens (`ignore_eos`), all streams start
//! together, and the aggregate is total generated tokens / wall time of the run. Also reported per
//! level: mean time to first token and mean time per output token (after the first). A sequential
//! baseline runs the same request through the single-request `generate` loop (no scheduler).
//!
//! `--prefix-share` measures prefix caching: time to first token of a request with a 400-token
//! prompt (cold), then of a request sharing that 400-token prefix with a different suffix (warm).
//! `--trace-out FILE` writes the engine's per-step traces (JSON lines) for cost-model fitting.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use llmserve_engine::generate::{generate, GenerateOptions};
use llmserve_engine::{CpuBackendConfig, EngineConfig, EngineHandle, EngineRequest, StreamEvent};
use llmserve_models::model::LoadedModel;
use llmserve_scheduler::{SamplingParams, SchedulerConfig};
use serde::Serialize;

use super::model_args::ModelArgs;

#[derive(Args, Debug)]
pub struct BenchStreamsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Concurrency levels to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,4,8,16")]
    pub streams: Vec<usize>,
    /// Prompt tokens per stream.
    #[arg(long = "prompt-tokens", default_value_t = 235)]
    pub prompt_tokens: usize,
    /// Generated tokens per stream (EOS ignored).
    #[arg(long = "gen-tokens", default_value_t = 128)]
    pub gen_tokens: u32,
    /// KV-cache size of the engine, in tokens.
    #[arg(long = "kv-cache-tokens", env = "LLMSERVE_KV_CACHE_TOKENS", default_value_t = llmserve_engine::handle::DEFAULT_CPU_KV_CACHE_TOKENS)]
    pub kv_cache_tokens: usize,
    /// Per-step token budget of the scheduler.
    #[arg(long = "max-num-batched-tokens", env = "LLMSERVE_MAX_NUM_BATCHED_TOKENS", default_value_t = 512)]
    pub max_num_batched_tokens: usize,
    /// Skip the sequential (single-request loop) baseline.
    #[arg(long = "no-sequential")]
    pub no_sequential: bool,
    /// Also measure time to first token with and without a shared, cached 400-token prefix.
    #[arg(long = "prefix-share")]
    pub prefix_share: bool,
    /// Prefix length for --prefix-share.
    #[arg(long = "prefix-tokens", default_value_t = 400)]
    pub prefix_tokens: usize,
    /// Write the engine's per-step traces (JSON lines) to this file.
    #[arg(long = "trace-out")]
    pub trace_out: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One concurrency level's result.
#[derive(Debug, Serialize)]
struct LevelResult {
    streams: usize,
    generated_tokens: usize,
    wall_s: f64,
    aggregate_tok_s: f64,
    ttft_mean_s: f64,
    tpot_mean_ms: f64,
    /// Aggregate relative to the 1-stream level (when measured).
    speedup_vs_1_stream: Option<f64>,
    engine_steps: u64,
    preemptions: u64,
}

#[derive(Debug, Serialize)]
struct SequentialResult {
    generated_tokens: usize,
    wall_s: f64,
    aggregate_tok_s: f64,
    ttft_s: f64,
    tpot_ms: f64,
}

#[derive(Debug, Serialize)]
struct PrefixShareResult {
    prefix_tokens: usize,
    suffix_tokens: usize,
    ttft_cold_s: f64,
    ttft_shared_prefix_s: f64,
    ratio: f64,
    cached_prompt_tokens: usize,
}

/// Text long enough for any prompt length asked for; each stream starts at a different offset so
/// streams share no prefix.
const CORPUS: &str = "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg \
combined movable metal type, oil-based inks and a wooden press adapted from wine making. Within fifty years printing \
shops had spread to more than two hundred cities across Europe, and the price of books fell so quickly that reading \
became a habit of merchants and artisans rather than a privilege of monks. Scholars could compare identical copies of \
a text for the first time, errors stopped multiplying with every hand copy, and scientific results travelled faster \
than their authors. Mountains cover about a quarter of the land surface of the Earth. They influence the weather, \
store fresh water as snow and ice, and are home to many plants and animals found nowhere else. In 1969 the Apollo 11 \
mission landed the first humans on the Moon; Neil Armstrong and Buzz Aldrin spent about two and a half hours outside \
the lunar module, collecting samples and setting up experiments while Michael Collins orbited above. Photosynthesis \
is the process by which green plants, algae and some bacteria convert light energy into chemical energy: carbon \
dioxide and water are combined to form glucose, and oxygen is released as a by-product. ";

fn prompt_tokens(model: &LoadedModel, len: usize, offset: usize) -> Result<Vec<u32>> {
    let tokenizer = model.tokenizer.as_ref().context("bench-streams needs a model with a tokenizer")?;
    let mut text = String::new();
    while text.len() < 8 * (len + offset) + 64 {
        text.push_str(CORPUS);
    }
    let ids = tokenizer.encode(&text, false)?;
    if ids.len() < offset + len {
        bail!("could not build a {len}-token prompt");
    }
    Ok(ids[offset..offset + len].to_vec())
}

fn params(gen_tokens: u32) -> SamplingParams {
    SamplingParams { ignore_eos: true, ..SamplingParams::greedy(gen_tokens) }
}

/// What one stream saw.
struct StreamTiming {
    tokens: usize,
    first: Option<Duration>,
    last: Duration,
}

/// Submits `prompts` at once and reads every stream on its own thread.
fn run_level(engine: &EngineHandle, prompts: &[Vec<u32>], gen_tokens: u32) -> Result<(Vec<StreamTiming>, Duration)> {
    let start = Instant::now();
    let streams = prompts
        .iter()
        .map(|p| engine.submit(EngineRequest::new(p.clone(), params(gen_tokens))))
        .collect::<Result<Vec<_>, _>>()?;
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            std::thread::spawn(move || {
                let mut t = StreamTiming { tokens: 0, first: None, last: Duration::ZERO };
                while let Some(event) = stream.recv_blocking() {
                    match event {
                        StreamEvent::Tokens { token_ids, .. } => {
                            let now = start.elapsed();
                            t.first.get_or_insert(now);
                            t.last = now;
                            t.tokens += token_ids.len();
                        }
                        StreamEvent::Error { message, .. } => return Err(message),
                        StreamEvent::PromptLogprobs { .. } | StreamEvent::Finished { .. } => {}
                    }
                }
                Ok(t)
            })
        })
        .collect();
    let mut timings = Vec::new();
    for r in readers {
        match r.join() {
            Ok(Ok(t)) => timings.push(t),
            Ok(Err(message)) => bail!("a stream failed: {message}"),
            Err(_) => bail!("a stream reader panicked"),
        }
    }
    Ok((timings, start.elapsed()))
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

fn summarize(streams: usize, timings: &[StreamTiming], wall: Duration) -> LevelResult {
    let generated: usize = timings.iter().map(|t| t.tokens).sum();
    let ttft = mean(timings.iter().filter_map(|t| t.first).map(|d| d.as_secs_f64()));
    let tpot = mean(timings.iter().filter(|t| t.tokens > 1).filter_map(|t| {
        let first = t.first?;
        Some((t.last - first).as_secs_f64() * 1e3 / (t.tokens - 1) as f64)
    }));
    LevelResult {
        streams,
        generated_tokens: generated,
        wall_s: wall.as_secs_f64(),
        aggregate_tok_s: generated as f64 / wall.as_secs_f64().max(1e-9),
        ttft_mean_s: ttft,
        tpot_mean_ms: tpot,
        speedup_vs_1_stream: None,
        engine_steps: 0,
        preemptions: 0,
    }
}

/// One request through the single-request generation loop (no scheduler, no engine thread).
fn run_sequential(args: &BenchStreamsArgs, model: &LoadedModel, prompt: &[u32]) -> Result<SequentialResult> {
    let total = prompt.len() + args.gen_tokens as usize;
    let mut backend = args.model.cpu_backend(model, total)?;
    let eos_ids = model.tokenizer.as_ref().map(|t| t.eos_ids().to_vec()).unwrap_or_default();
    let opts = GenerateOptions { params: params(args.gen_tokens), eos_ids, max_batch_tokens: args.max_num_batched_tokens };
    let start = Instant::now();
    let mut first = None;
    let mut count = 0usize;
    generate(&mut backend, prompt, &opts, |_| {
        first.get_or_insert_with(|| start.elapsed());
        count += 1;
        true
    })?;
    let wall = start.elapsed();
    let first = first.unwrap_or(wall);
    Ok(SequentialResult {
        generated_tokens: count,
        wall_s: wall.as_secs_f64(),
        aggregate_tok_s: count as f64 / wall.as_secs_f64().max(1e-9),
        ttft_s: first.as_secs_f64(),
        tpot_ms: (wall - first).as_secs_f64() * 1e3 / count.saturating_sub(1).max(1) as f64,
    })
}

/// Time to first token of one request (generates a single token).
fn ttft(engine: &EngineHandle, prompt: Vec<u32>) -> Result<(f64, usize)> {
    let start = Instant::now();
    let mut stream = engine.submit(EngineRequest::new(prompt, params(1)))?;
    let mut first = None;
    let mut cached = 0;
    while let Some(event) = stream.recv_blocking() {
        match event {
            StreamEvent::Tokens { .. } => {
                first.get_or_insert_with(|| start.elapsed());
            }
            StreamEvent::Error { message, .. } => bail!("request failed: {message}"),
            StreamEvent::PromptLogprobs { .. } => {}
            StreamEvent::Finished { usage, .. } => cached = usage.cached_prompt_tokens,
        }
    }
    Ok((first.context("no token arrived")?.as_secs_f64(), cached))
}

fn run_prefix_share(args: &BenchStreamsArgs, model: &LoadedModel) -> Result<PrefixShareResult> {
    let mut config = engine_config(args);
    config.scheduler.enable_prefix_caching = true;
    let engine = EngineHandle::cpu(model, config)?;
    let suffix_tokens = 16;
    let all = prompt_tokens(model, args.prefix_tokens + 2 * suffix_tokens, 3)?;
    let prefix = &all[..args.prefix_tokens];
    // Warm-up on unrelated tokens (page in the weights, size the buffers).
    ttft(&engine, prompt_tokens(model, 64, 2000)?)?;
    let (cold, _) = ttft(&engine, prefix.to_vec())?;
    let mut second = prefix.to_vec();
    second.extend_from_slice(&all[args.prefix_tokens + suffix_tokens..]);
    let (warm, cached) = ttft(&engine, second)?;
    Ok(PrefixShareResult {
        prefix_tokens: args.prefix_tokens,
        suffix_tokens,
        ttft_cold_s: cold,
        ttft_shared_prefix_s: warm,
        ratio: warm / cold.max(1e-9),
        cached_prompt_tokens: cached,
    })
}

fn engine_config(args: &BenchStreamsArgs) -> EngineConfig {
    let defaults = EngineConfig::default();
    EngineConfig {
        precision: args.model.precision(),
        cpu: CpuBackendConfig { threads: args.model.threads, kv_cache_tokens: args.kv_cache_tokens, ..defaults.cpu },
        scheduler: SchedulerConfig {
            max_num_batched_tokens: args.max_num_batched_tokens,
            max_num_seqs: args.streams.iter().copied().max().unwrap_or(1).max(1),
            // Every stream has its own prompt; no reuse across levels either.
            enable_prefix_caching: false,
            ..defaults.scheduler
        },
        step_trace_capacity: if args.trace_out.is_some() { 1 << 16 } else { 0 },
        ..defaults
    }
}

pub fn run(args: BenchStreamsArgs) -> Result<()> {
    if args.streams.is_empty() || args.streams.contains(&0) {
        bail!("--streams needs positive counts");
    }
    if args.prompt_tokens == 0 || args.gen_tokens == 0 {
        bail!("--prompt-tokens and --gen-tokens must be positive");
    }
    let model = args.model.load()?;
    let engine = EngineHandle::cpu(&model, engine_config(&args))?;
    let max_streams = args.streams.iter().copied().max().unwrap_or(1);
    let prompts = (0..max_streams).map(|i| prompt_tokens(&model, args.prompt_tokens, 7 * i)).collect::<Result<Vec<_>>>()?;
    // Warm-up: page in the weights, grow every buffer to a mixed prefill + decode step.
    run_level(&engine, &prompts[..2.min(prompts.len())], 8)?;
    engine.take_step_traces();

    let mut levels = Vec::new();
    let mut traces = Vec::new();
    for &n in &args.streams {
        let before = engine.stats();
        let (timings, wall) = run_level(&engine, &prompts[..n], args.gen_tokens)?;
        let after = engine.stats();
        let mut level = summarize(n, &timings, wall);
        level.engine_steps = after.num_steps - before.num_steps;
        level.preemptions = after.num_preemptions - before.num_preemptions;
        traces.extend(engine.take_step_traces().into_iter().map(|t| (n, t)));
        if !args.json {
            eprintln!("[{n} streams: {:.1} tok/s]", level.aggregate_tok_s);
        }
        levels.push(level);
    }
    let one = levels.iter().find(|l| l.streams == 1).map(|l| l.aggregate_tok_s);
    for level in &mut levels {
        level.speedup_vs_1_stream = one.map(|o| level.aggregate_tok_s / o.max(1e-9));
    }
    engine.shutdown();

    let sequential = if args.no_sequential { None } else { Some(run_sequential(&args, &model, &prompts[0])?) };
    let prefix = if args.prefix_share { Some(run_prefix_share(&args, &model)?) } else { None };

    if let Some(path) = &args.trace_out {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
        for (streams, t) in &traces {
            let mut v = serde_json::to_value(t)?;
            v["streams"] = serde_json::json!(streams);
            writeln!(f, "{v}")?;
        }
        f.flush()?;
    }

    if args.json {
        let v = serde_json::json!({
            "model": model.id,
            "threads": args.model.threads,
            "activations": format!("{:?}", args.model.activations),
            "prompt_tokens": args.prompt_tokens,
            "gen_tokens": args.gen_tokens,
            "max_num_batched_tokens": args.max_num_batched_tokens,
            "levels": levels,
            "sequential": sequential,
            "prefix_share": prefix,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "model {} | {} prompt + {} generated tokens per stream | budget {} tokens/step | activations {:?}",
        model.id, args.prompt_tokens, args.gen_tokens, args.max_num_batched_tokens, args.model.activations
    );
    println!("| streams | aggregate tok/s | vs 1 stream | mean TTFT s | mean TPOT ms | wall s | steps | preemptions |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for l in &levels {
        println!(
            "| {} | {:.1} | {} | {:.2} | {:.1} | {:.1} | {} | {} |",
            l.streams,
            l.aggregate_tok_s,
            l.speedup_vs_1_stream.map_or("-".into(), |s| format!("{s:.2}×")),
            l.ttft_mean_s,
            l.tpot_mean_ms,
            l.wall_s,
            l.engine_steps,
            l.preemptions
        );
    }
    if let Some(s) = &sequential {
        println!(
            "sequential (single-request loop, no scheduler): {:.1} tok/s, TTFT {:.2} s, TPOT {:.1} ms",
            s.aggregate_tok_s, s.ttft_s, s.tpot_ms
        );
    }
    if let Some(p) = &prefix {
        println!(
            "prefix share: TTFT {:.3} s cold ({} tokens) → {:.3} s with the {}-token prefix cached (+{} new tokens, {} cached): ratio {:.3}",
            p.ttft_cold_s, p.prefix_tokens, p.ttft_shared_prefix_s, p.prefix_tokens, p.suffix_tokens, p.cached_prompt_tokens, p.ratio
        );
    }
    Ok(())
}

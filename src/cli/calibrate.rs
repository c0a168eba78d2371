//! `llmserve calibrate-cost-model`: times real forward steps of the CPU backend on a grid of batch
//! shapes and fits the simulator's step cost model to them (see `docs/simulator.md`).
//!
//! The grid covers what a serving run produces: pure decode steps (1–32 sequences at 16–1024 tokens
//! of context), pure prefill chunks (16–512 tokens on top of 0, 256 or 1024 cached tokens, with and
//! without logits), and mixed steps (a prefill chunk plus decodes, several chunks at once). Each shape
//! runs `--warmup` unmeasured times and then `--runs` measured times; the median is the sample.
//! Every sequence gets its own blocks, so attention reads as much KV memory as in a real batch. Before
//! timing, every KV slot the grid reads is written once by prefill forwards ("priming"): memory that
//! was never written is the kernel's shared zero page, which stays in L1 and made attention look ~4×
//! cheaper than on a real cache in a first version of this tool.
//! `--refit-from FILE` refits the samples stored in an existing model file without running anything.
//! `--from-traces FILE` fits the engine's own per-step traces (`llmserve bench-streams --trace-out`),
//! which include whatever the engine spends per step beyond the forward (input preparation, sampling,
//! contention with its other threads).

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use llmserve_engine::CpuBackend;
use llmserve_models::llama::metadata::SequenceChunk;
use llmserve_models::llama::AttentionMetadata;
use llmserve_scheduler::simulator::{CostModelMeta, CostSample, StepCostModel, StepShape};
use rand::{Rng, SeedableRng};

use super::model_args::ModelArgs;

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where to write the fitted cost model (JSON).
    #[arg(long, env = "LLMSERVE_CALIBRATE_OUT")]
    pub out: PathBuf,
    /// Measured repetitions per shape (the median is used).
    #[arg(long, env = "LLMSERVE_CALIBRATE_RUNS", default_value_t = 3)]
    pub runs: usize,
    /// Unmeasured repetitions per shape before measuring.
    #[arg(long, env = "LLMSERVE_CALIBRATE_WARMUP", default_value_t = 1)]
    pub warmup: usize,
    /// A smaller grid (about a third of the shapes) for a quick check.
    #[arg(long, env = "LLMSERVE_CALIBRATE_QUICK")]
    pub quick: bool,
    /// The machine, for the file's metadata (default: core count, CPU model and ISA).
    #[arg(long, env = "LLMSERVE_CALIBRATE_MACHINE")]
    pub machine: Option<String>,
    /// Free-text notes stored in the file.
    #[arg(long, env = "LLMSERVE_CALIBRATE_NOTES")]
    pub notes: Option<String>,
    /// Refit the samples of an existing cost-model file instead of measuring (no model needed).
    #[arg(long = "refit-from", env = "LLMSERVE_CALIBRATE_REFIT_FROM", conflicts_with = "from_traces")]
    pub refit_from: Option<PathBuf>,
    /// Fit engine step traces (JSON lines from `llmserve bench-streams --trace-out`) instead of
    /// measuring; the time fitted is each step's whole wall time (`step_seconds`).
    #[arg(long = "from-traces", env = "LLMSERVE_CALIBRATE_FROM_TRACES")]
    pub from_traces: Option<PathBuf>,
}

/// One sequence of a calibration step.
#[derive(Clone, Copy, Debug)]
struct Seq {
    cached: usize,
    new: usize,
    logits: bool,
}

fn decodes(n: usize, ctx: usize) -> Vec<Seq> {
    vec![Seq { cached: ctx, new: 1, logits: true }; n]
}

/// The batch shapes to time (see the module docs).
fn grid(quick: bool) -> Vec<Vec<Seq>> {
    let mut shapes = Vec::new();
    let (batches, contexts): (&[usize], &[usize]) = if quick { (&[1, 4, 16], &[16, 512]) } else { (&[1, 2, 4, 8, 16, 32], &[16, 256, 1024]) };
    for &b in batches {
        for &ctx in contexts {
            shapes.push(decodes(b, ctx));
        }
    }
    let chunks: &[usize] = if quick { &[32, 128, 512] } else { &[16, 32, 64, 128, 256, 512] };
    let prefixes: &[(usize, bool)] = if quick { &[(0, true), (512, false)] } else { &[(0, true), (256, false), (1024, true)] };
    for &n in chunks {
        for &(cached, logits) in prefixes {
            shapes.push(vec![Seq { cached, new: n, logits }]);
        }
    }
    let mixed: &[(usize, usize, usize)] = if quick { &[(128, 0, 8)] } else { &[(64, 0, 4), (64, 512, 16), (256, 0, 16), (256, 512, 4), (128, 1024, 8)] };
    for &(n, cached, b) in mixed {
        let mut s = vec![Seq { cached, new: n, logits: cached == 0 }];
        s.extend(decodes(b, 256));
        shapes.push(s);
    }
    if !quick {
        shapes.push(vec![Seq { cached: 0, new: 128, logits: true }; 2]);
        shapes.push(vec![Seq { cached: 0, new: 64, logits: false }; 4]);
        let mut s = vec![Seq { cached: 128, new: 96, logits: true }; 4];
        s.extend(decodes(8, 512));
        shapes.push(s);
    }
    shapes
}

fn shape_of(seqs: &[Seq]) -> StepShape {
    let mut shape = StepShape::default();
    for s in seqs {
        shape.add_sequence(s.cached, s.new, s.logits);
    }
    shape
}

fn describe(seqs: &[Seq]) -> String {
    let s = shape_of(seqs);
    format!("{:>3} seqs {:>4} tokens {:>6} ctx {:>8} prefill-pairs", s.num_seqs, s.num_tokens, s.context_tokens, s.prefill_attention)
}

/// Writes every KV slot of the first `tokens` slots with prefill forwards of up to 512 tokens (see the
/// module docs: an unwritten cache reads from the zero page).
fn prime_kv(backend: &mut CpuBackend, tokens: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Result<()> {
    let block_size = backend.geometry().block_size;
    let vocab = backend.vocab_size() as u32;
    let num_blocks = tokens.div_ceil(block_size) as u32;
    let per_chunk = (512 / block_size).max(1) as u32;
    let mut logits = Vec::new();
    let mut first = 0;
    while first < num_blocks {
        let table: Vec<u32> = (first..(first + per_chunk).min(num_blocks)).collect();
        let n = table.len() * block_size;
        let chunk = SequenceChunk { num_cached: 0, num_new: n, block_table: &table, wants_logits: true };
        let meta = AttentionMetadata::for_sequences(&[chunk], block_size).map_err(anyhow::Error::msg)?;
        let ids: Vec<u32> = (0..n).map(|_| rng.gen_range(0..vocab)).collect();
        backend.execute(&ids, &meta, &mut logits)?;
        first += per_chunk;
    }
    Ok(())
}

/// Times one shape: `warmup` + `runs` executions, returns the median of the measured ones.
fn time_shape(backend: &mut CpuBackend, seqs: &[Seq], warmup: usize, runs: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Result<f64> {
    let block_size = backend.geometry().block_size;
    let vocab = backend.vocab_size() as u32;
    let mut next_block = 0u32;
    let tables: Vec<Vec<u32>> = seqs
        .iter()
        .map(|s| {
            let n = (s.cached + s.new).div_ceil(block_size) as u32;
            let table = (next_block..next_block + n).collect();
            next_block += n;
            table
        })
        .collect();
    let chunks: Vec<SequenceChunk<'_>> = seqs
        .iter()
        .zip(&tables)
        .map(|(s, t)| SequenceChunk { num_cached: s.cached, num_new: s.new, block_table: t, wants_logits: s.logits })
        .collect();
    let meta = AttentionMetadata::for_sequences(&chunks, block_size).map_err(anyhow::Error::msg)?;
    let tokens: Vec<u32> = (0..meta.num_tokens()).map(|_| rng.gen_range(0..vocab)).collect();
    let mut logits = Vec::new();
    let mut times = Vec::with_capacity(runs);
    for i in 0..warmup + runs {
        let start = Instant::now();
        backend.execute(&tokens, &meta, &mut logits)?;
        if i >= warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// `YYYY-MM-DD` (UTC) from the system clock.
fn today() -> String {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = llmserve_bench::hardware::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `N-core <model name>, <best ISA>` from /proc/cpuinfo and feature detection.
fn detect_device() -> String {
    let (cores, name) = (llmserve_bench::hardware::cores(), llmserve_bench::hardware::cpu_model());
    #[cfg(target_arch = "x86_64")]
    let isa = if is_x86_feature_detected!("avx512f") {
        "AVX-512"
    } else if is_x86_feature_detected!("avx2") {
        "AVX2"
    } else {
        "SSE"
    };
    #[cfg(not(target_arch = "x86_64"))]
    let isa = std::env::consts::ARCH;
    format!("{cores}-core {name}, {isa}")
}

/// The command that ran, for the file's metadata (`--notes` text is elided: it is stored on its own).
fn command_line() -> String {
    let mut after_notes = false;
    let mut args: Vec<String> = std::env::args()
        .map(|a| {
            let elide = std::mem::replace(&mut after_notes, a == "--notes");
            if elide {
                "…".to_string()
            } else if a.contains(' ') {
                format!("{a:?}")
            } else {
                a
            }
        })
        .collect();
    if let Some(first) = args.first_mut() {
        *first = "llmserve".into();
    }
    args.join(" ")
}

pub fn run(args: CalibrateArgs) -> Result<()> {
    if let Some(path) = &args.refit_from {
        let old = StepCostModel::load(path)?;
        let mut meta = CostModelMeta { fitted_by: format!("{} (refit of samples measured by: {})", command_line(), old.meta.fitted_by), ..old.meta };
        if let Some(notes) = &args.notes {
            meta.notes = notes.clone();
        }
        if let Some(machine) = &args.machine {
            meta.device = machine.clone();
        }
        return write_model(&args, StepCostModel::fit(meta, old.samples)?);
    }
    if let Some(path) = &args.from_traces {
        return fit_traces(&args, path);
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let shapes = grid(args.quick);
    let model = args.model.load()?;
    let block_size = 16;
    let kv_tokens = shapes.iter().map(|s| s.iter().map(|q| (q.cached + q.new).div_ceil(block_size) * block_size).sum::<usize>()).max().unwrap_or(block_size);
    let longest = shapes.iter().flatten().map(|q| q.cached + q.new).max().unwrap_or(1);
    if longest > model.config.max_position_embeddings {
        bail!("the calibration grid needs {longest} positions; the model's context is {}", model.config.max_position_embeddings);
    }
    let mut backend = args.model.cpu_backend(&model, kv_tokens)?;
    if backend.geometry().block_size != block_size {
        bail!("the CPU backend uses blocks of {} tokens, calibration expects {block_size}", backend.geometry().block_size);
    }
    let dtypes: Vec<String> = backend.model.weights.linear_dtypes().iter().map(|d| d.to_string()).collect();
    eprintln!("calibrating {} on {} threads: {} shapes × ({} warm-up + {} runs)", model.id, backend.threads(), shapes.len(), args.warmup, args.runs);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let start = Instant::now();
    eprintln!("priming {kv_tokens} KV slots with prefill forwards");
    prime_kv(&mut backend, kv_tokens, &mut rng)?;
    eprintln!("primed in {:.0} s", start.elapsed().as_secs_f64());
    let mut samples = Vec::with_capacity(shapes.len());
    for (i, seqs) in shapes.iter().enumerate() {
        let seconds = time_shape(&mut backend, seqs, args.warmup, args.runs, &mut rng).with_context(|| format!("shape {}", describe(seqs)))?;
        eprintln!("[{:>2}/{}] {}  {:>9.2} ms", i + 1, shapes.len(), describe(seqs), seconds * 1e3);
        samples.push(CostSample { shape: shape_of(seqs), seconds });
    }
    let meta = CostModelMeta {
        backend: "cpu".into(),
        model: format!("{} (linear weights {}, activations {})", model.id, dtypes.join("/"), format!("{:?}", args.model.activations).to_lowercase()),
        device: args.machine.clone().unwrap_or_else(detect_device),
        threads: Some(backend.threads()),
        block_size: Some(block_size),
        fitted_by: command_line(),
        method: format!(
            "KV primed; median of {} timed CpuBackend::execute calls per shape after {} warm-up, {} shapes, {:.0} s; relative-error least squares with non-negative clamping (scheduler/src/simulator/fit.rs)",
            args.runs,
            args.warmup,
            shapes.len(),
            start.elapsed().as_secs_f64()
        ),
        date: today(),
        notes: args.notes.clone().unwrap_or_default(),
    };
    write_model(&args, StepCostModel::fit(meta, samples)?)
}

/// A trace line's unsigned integer field.
fn trace_field(v: &serde_json::Value, field: &str, line: usize) -> Result<usize> {
    v.get(field)
        .and_then(serde_json::Value::as_u64)
        .map(|n| n as usize)
        .with_context(|| format!("trace line {line}: field {field:?} missing or not a non-negative integer"))
}

/// One engine step trace as a cost sample. Traces without `prefill_attention` get it estimated by
/// assuming the prefill tokens are fresh prompts (nothing cached) split evenly over the prefill
/// sequences — exact for `bench-streams` prompts that fit in one step, an estimate otherwise.
fn trace_sample(v: &serde_json::Value, line: usize) -> Result<Option<CostSample>> {
    let num_tokens = trace_field(v, "num_scheduled_tokens", line)?;
    if num_tokens == 0 {
        return Ok(None);
    }
    let num_seqs = trace_field(v, "num_seqs", line)?;
    let prefill_tokens = trace_field(v, "num_prefill_tokens", line)?;
    let decode_seqs = trace_field(v, "num_decode_seqs", line)?;
    let prefill_attention = match v.get("prefill_attention").and_then(serde_json::Value::as_u64) {
        Some(p) => p,
        None => {
            let k = num_seqs.saturating_sub(decode_seqs).max(1) as u64;
            let n = prefill_tokens as u64 / k;
            if n > 1 {
                k * n * (n + 1) / 2
            } else {
                0
            }
        }
    };
    let seconds = v
        .get("step_seconds")
        .and_then(serde_json::Value::as_f64)
        .with_context(|| format!("trace line {line}: field \"step_seconds\" missing or not a number"))?;
    let shape = StepShape {
        num_tokens,
        num_seqs,
        num_logits: trace_field(v, "num_sampled", line)?,
        context_tokens: trace_field(v, "total_context_tokens", line)?,
        prefill_attention,
    };
    Ok(Some(CostSample { shape, seconds }))
}

fn fit_traces(args: &CalibrateArgs, path: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}, line {}", path.display(), i + 1))?;
        if let Some(sample) = trace_sample(&v, i + 1)? {
            samples.push(sample);
        }
    }
    let meta = CostModelMeta {
        backend: "cpu".into(),
        model: args.model.model.clone(),
        device: args.machine.clone().unwrap_or_else(detect_device),
        threads: (args.model.threads > 0).then_some(args.model.threads),
        block_size: Some(16),
        fitted_by: command_line(),
        method: format!(
            "engine step traces ({} steps, whole step wall time) from {}; relative-error least squares with non-negative clamping (scheduler/src/simulator/fit.rs)",
            samples.len(),
            path.display()
        ),
        date: today(),
        notes: args.notes.clone().unwrap_or_default(),
    };
    write_model(args, StepCostModel::fit(meta, samples)?)
}

fn write_model(args: &CalibrateArgs, model: StepCostModel) -> Result<()> {
    std::fs::write(&args.out, format!("{}\n", model.to_json_pretty())).with_context(|| format!("writing {}", args.out.display()))?;
    let c = &model.coefficients;
    println!("wrote {}", args.out.display());
    println!(
        "c0 {:.4e} s | c_batched_step {:.4e} s | c_token {:.4e} s | c_seq {:.4e} s | c_logits {:.4e} s | c_ctx {:.4e} s | c_prefill_ctx {:.4e} s",
        c.c0, c.c_batched_step, c.c_token, c.c_seq, c.c_logits, c.c_ctx, c.c_prefill_ctx
    );
    if let Some(q) = &model.fit {
        println!(
            "R² {:.4} | mean relative error {:.1} % | max {:.1} % | {} samples{}",
            q.r_squared,
            q.mean_relative_error * 100.0,
            q.max_relative_error * 100.0,
            q.num_samples,
            if q.clamped.is_empty() { String::new() } else { format!(" | clamped to 0: {}", q.clamped.join(", ")) }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_fits_the_default_budget_and_the_date_is_iso() {
        for quick in [false, true] {
            let shapes = grid(quick);
            assert!(shapes.iter().all(|s| shape_of(s).num_tokens <= 544), "a step far above the 512-token budget");
            let samples: Vec<CostSample> = shapes.iter().map(|s| CostSample { shape: shape_of(s), seconds: 1e-3 * (1 + shape_of(s).num_tokens) as f64 }).collect();
            assert!(StepCostModel::fit(CostModelMeta::default(), samples).is_ok(), "the grid must separate every coefficient");
        }
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
    }

    #[test]
    fn engine_traces_become_samples() {
        let decode = serde_json::json!({"step": 3, "num_scheduled_tokens": 4, "num_seqs": 4, "num_prefill_tokens": 0,
            "num_decode_seqs": 4, "total_context_tokens": 1000, "num_sampled": 4, "execute_seconds": 0.05, "step_seconds": 0.051});
        let s = trace_sample(&decode, 1).unwrap().unwrap();
        assert_eq!(s.shape, StepShape { num_tokens: 4, num_seqs: 4, num_logits: 4, context_tokens: 1000, prefill_attention: 0 });
        assert_eq!(s.seconds, 0.051);
        // Two fresh 100-token prompts and three decodes: 2 · (100 · 101 / 2) query·key pairs.
        let mixed = serde_json::json!({"num_scheduled_tokens": 203, "num_seqs": 5, "num_prefill_tokens": 200,
            "num_decode_seqs": 3, "total_context_tokens": 900, "num_sampled": 5, "step_seconds": 0.5});
        assert_eq!(trace_sample(&mixed, 2).unwrap().unwrap().shape.prefill_attention, 10_100);
        let bad = serde_json::json!({"num_scheduled_tokens": 1});
        assert!(trace_sample(&bad, 7).unwrap_err().to_string().contains("line 7"));
    }
}

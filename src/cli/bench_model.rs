//! `llmserve bench-model`: prompt-processing and decode throughput of one model on the CPU backend,
//! measured like llama.cpp's `llama-bench -p N -n M`: ppN = one forward of N prompt tokens from an
//! empty cache; tgM = M single-token decode steps from an empty cache. Warm-up runs first, then the
//! median of `--runs` repetitions. Token ids are random (seeded), which does not change the work.

use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use llmserve_engine::generate::{run_chunk, single_sequence_blocks};
use llmserve_engine::sampler::argmax;
use rand::{Rng, SeedableRng};

use super::model_args::ModelArgs;

#[derive(Args, Debug)]
pub struct BenchModelArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt tokens processed in one batch (llama-bench -p).
    #[arg(long = "prompt-tokens", default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Tokens decoded one at a time (llama-bench -n).
    #[arg(long = "gen-tokens", default_value_t = 128)]
    pub gen_tokens: usize,
    /// Measured repetitions (median reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Unmeasured warm-up repetitions.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
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

pub fn run(args: BenchModelArgs) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if args.prompt_tokens == 0 && args.gen_tokens == 0 {
        bail!("nothing to measure: --prompt-tokens and --gen-tokens are both 0");
    }
    let model = args.model.load()?;
    let limit = model.config.max_position_embeddings;
    let longest = args.prompt_tokens.max(args.gen_tokens);
    if longest > limit {
        bail!("{longest} tokens exceed the model's context length {limit}");
    }
    let mut backend = args.model.cpu_backend(&model, longest)?;
    let vocab = backend.vocab_size() as u32;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1234);
    let prompt: Vec<u32> = (0..args.prompt_tokens).map(|_| rng.gen_range(0..vocab)).collect();
    let table = single_sequence_blocks(&backend, longest)?;
    let mut logits = Vec::new();
    let mut pp = Vec::new();
    let mut tg = Vec::new();
    for i in 0..args.warmup + args.runs {
        let measured = i >= args.warmup;
        if args.prompt_tokens > 0 {
            let t = Instant::now();
            run_chunk(&mut backend, &table, &prompt, 0, false, &mut logits)?;
            if measured {
                pp.push(args.prompt_tokens as f64 / t.elapsed().as_secs_f64());
            }
        }
        if args.gen_tokens > 0 {
            let mut tok = prompt.first().copied().unwrap_or(1);
            let t = Instant::now();
            for pos in 0..args.gen_tokens {
                run_chunk(&mut backend, &table, &[tok], pos, false, &mut logits)?;
                tok = argmax(&logits);
            }
            if measured {
                tg.push(args.gen_tokens as f64 / t.elapsed().as_secs_f64());
            }
        }
    }
    let (pp_med, tg_med) = (median(pp.clone()), median(tg.clone()));
    if args.json {
        let v = serde_json::json!({
            "model": model.id,
            "threads": backend.threads(),
            "prompt_tokens": args.prompt_tokens,
            "gen_tokens": args.gen_tokens,
            "runs": args.runs,
            "prompt_tok_s": pp_med,
            "decode_tok_s": tg_med,
            "prompt_tok_s_runs": pp,
            "decode_tok_s_runs": tg,
            "weight_types": backend.model.weights.linear_dtypes().iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        });
        println!("{v}");
    } else {
        println!("model {} | {} threads | median of {} runs after {} warm-up", model.id, backend.threads(), args.runs, args.warmup);
        if args.prompt_tokens > 0 {
            println!("pp{:<6} {:>9.1} tok/s", args.prompt_tokens, pp_med);
        }
        if args.gen_tokens > 0 {
            println!("tg{:<6} {:>9.1} tok/s", args.gen_tokens, tg_med);
        }
    }
    Ok(())
}

//! The default model against llama.cpp's reference outputs and the float64 ground truth
//! (`models/tests/fixtures/`, copied from `shared/reference/`).
//!
//! Teacher-forced on prompt + llama.cpp's greedy ids: our logits for llama.cpp's top-10 ids must be
//! within 1.25 × the case's `llama_cpp_max_abs_err` of the exact logits (about as accurate as
//! llama.cpp or better), and our argmax must equal the exact argmax wherever the exact margin ≥ 0.5.
//! Also: a batch of several sequences gives the same logits as each sequence alone.
//!
//! Known fragility: the 8-bit activation noise is chaotic. Accumulating the attention softmax's sum in
//! f64 instead of f32 (a 1e-7 change) moved case chat-math from 0.56 to 0.99 (limit 0.74) with the
//! default `balanced` precision. The pass is deterministic for a given build and CPU path, but not a
//! wide margin; higher-precision activations for more matmuls (int16) are the robust fix.

use std::path::PathBuf;

use llmserve_engine::generate::score;
use llmserve_engine::{CpuBackend, CpuBackendConfig};
use llmserve_models::default_model;
use llmserve_models::llama::metadata::SequenceChunk;
use llmserve_models::llama::{AttentionMetadata, MatmulPrecision};
use llmserve_models::model::LoadedModel;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn backend(model: &LoadedModel, precision: MatmulPrecision, tokens: usize) -> CpuBackend {
    let llama = model.build_llama(precision).unwrap();
    CpuBackend::new(llama, &CpuBackendConfig { threads: 2, kv_cache_tokens: tokens, ..Default::default() }).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn teacher_forced_logits_match_the_exact_reference() {
    let Some(path) = default_model::for_tests() else { return };
    let model = LoadedModel::from_gguf(&path).unwrap();
    let cpp = fixture("smollm2-llamacpp.json");
    let exact = fixture("smollm2-exact.json");
    let vocab = model.config.vocab_size;
    let mut worst_ratio: f64 = 0.0;
    for case in exact["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let c = cpp["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap();
        let prompt = ids(&c["prompt_token_ids"]);
        let greedy = ids(&c["greedy_ids"]);
        let mut all = prompt.clone();
        all.extend_from_slice(&greedy[..greedy.len() - 1]);
        let mut be = backend(&model, MatmulPrecision::BALANCED, all.len());
        // Chunks of 64 exercise chunked prefill over the paged cache.
        let logits = score(&mut be, &all, 64).unwrap();
        let tol = 1.25 * case["llama_cpp_max_abs_err"].as_f64().unwrap();
        let mut max_err: f64 = 0.0;
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let row = &logits[(prompt.len() - 1 + i) * vocab..][..vocab];
            for (id, want) in step["exact_top10_logits"].as_object().unwrap() {
                let id: usize = id.parse().unwrap();
                let err = (row[id] as f64 - want.as_f64().unwrap()).abs();
                max_err = max_err.max(err);
            }
            if step["exact_margin"].as_f64().unwrap() >= 0.5 {
                let ours = llmserve_engine::sampler::argmax(row);
                assert_eq!(ours as u64, step["exact_argmax"].as_u64().unwrap(), "case {name} step {i}: argmax differs");
            }
        }
        eprintln!("case {name}: max |err| {max_err:.4} (llama.cpp {:.4}, limit {tol:.4})", tol / 1.25);
        assert!(max_err <= tol, "case {name}: max |logit err| {max_err} > 1.25 × llama.cpp's = {tol}");
        worst_ratio = worst_ratio.max(max_err / (tol / 1.25));
    }
    eprintln!("worst error relative to llama.cpp's: {worst_ratio:.3}");
}

#[test]
fn batched_sequences_match_each_sequence_alone() {
    let Some(path) = default_model::for_tests() else { return };
    let model = LoadedModel::from_gguf(&path).unwrap();
    let cpp = fixture("smollm2-llamacpp.json");
    let prompts: Vec<Vec<u32>> = ["capital", "code", "chat-math", "unicode"]
        .iter()
        .map(|n| ids(&cpp["cases"].as_array().unwrap().iter().find(|c| c["name"] == *n).unwrap()["prompt_token_ids"]))
        .collect();
    let vocab = model.config.vocab_size;
    let block_size = 16;
    // Alone: each prompt through its own fresh cache, last-token logits.
    let alone: Vec<Vec<f32>> = prompts
        .iter()
        .map(|p| {
            let mut be = backend(&model, MatmulPrecision::BALANCED, p.len());
            let all = score(&mut be, p, 512).unwrap();
            all[(p.len() - 1) * vocab..].to_vec()
        })
        .collect();
    // Together: one flattened batch, disjoint non-contiguous blocks per sequence. The first sequence
    // is split: half its prompt runs in an earlier step, so the batch mixes a continuing (chunked)
    // prefill with fresh prompts.
    let total: usize = prompts.iter().map(|p| p.len().div_ceil(block_size)).sum();
    let mut be = backend(&model, MatmulPrecision::BALANCED, (total + 1) * block_size);
    let mut tables = Vec::new();
    let mut next = total as u32; // hand out blocks from the top down so tables are not 0..n
    for p in &prompts {
        let n = p.len().div_ceil(block_size);
        tables.push((0..n).map(|_| {
            next -= 1;
            next
        }).collect::<Vec<u32>>());
    }
    let first_half = prompts[0].len() / 2;
    let mut logits = Vec::new();
    let meta0 = AttentionMetadata::for_sequences(
        &[SequenceChunk { num_cached: 0, num_new: first_half, block_table: &tables[0], wants_logits: false }],
        block_size,
    )
    .unwrap();
    be.execute(&prompts[0][..first_half], &meta0, &mut logits).unwrap();
    let mut chunks = vec![SequenceChunk {
        num_cached: first_half,
        num_new: prompts[0].len() - first_half,
        block_table: &tables[0],
        wants_logits: true,
    }];
    let mut tokens = prompts[0][first_half..].to_vec();
    for (p, t) in prompts.iter().zip(&tables).skip(1) {
        chunks.push(SequenceChunk { num_cached: 0, num_new: p.len(), block_table: t, wants_logits: true });
        tokens.extend_from_slice(p);
    }
    let meta = AttentionMetadata::for_sequences(&chunks, block_size).unwrap();
    be.execute(&tokens, &meta, &mut logits).unwrap();
    for (s, want) in alone.iter().enumerate() {
        let got = &logits[s * vocab..(s + 1) * vocab];
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-4 * scale, "sequence {s}: max |diff| {worst} vs scale {scale}");
    }
}

/// Single-token decode steps after a chunked prefill give the logits of one batched teacher-forced pass.
/// Checked with f32 activations: with 8-bit activations the decode kernel (m = 1, row dots) and the
/// prompt kernel (m > 1, register tiles) sum floats in different orders, and a 1e-7 difference can flip
/// an activation's int8 rounding in the next layer, re-drawing the quantization noise (llama.cpp behaves
/// the same way); the int8 path's accuracy is checked against the exact reference above instead.
#[test]
fn decode_steps_match_teacher_forced_scoring() {
    let Some(path) = default_model::for_tests() else { return };
    let model = LoadedModel::from_gguf(&path).unwrap();
    let cpp = fixture("smollm2-llamacpp.json");
    let c = cpp["cases"].as_array().unwrap().iter().find(|c| c["name"] == "capital").unwrap();
    let mut all = ids(&c["prompt_token_ids"]);
    let n_prompt = all.len();
    all.extend_from_slice(&ids(&c["greedy_ids"])[..8]);
    let vocab = model.config.vocab_size;
    let mut be = backend(&model, MatmulPrecision::EXACT, all.len());
    let scored = score(&mut be, &all, 512).unwrap();
    // Prefill the prompt (last-token logits only), then one token per step, as generation does.
    let mut be = backend(&model, MatmulPrecision::EXACT, all.len());
    let table = llmserve_engine::generate::single_sequence_blocks(&be, all.len()).unwrap();
    let mut logits = Vec::new();
    llmserve_engine::generate::run_chunk(&mut be, &table, &all[..n_prompt], 0, false, &mut logits).unwrap();
    for pos in n_prompt..=all.len() {
        let want = &scored[(pos - 1) * vocab..pos * vocab];
        let worst = logits.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-3, "position {pos}: decode logits differ from scoring by {worst}");
        if pos < all.len() {
            llmserve_engine::generate::run_chunk(&mut be, &table, &all[pos..pos + 1], pos, false, &mut logits).unwrap();
        }
    }
}

//! The CUDA backend against the CPU backend on a small synthetic LLaMA with LLaMA-3's head layout
//! (32 q heads, 8 kv heads, head_dim 128; 4 layers, hidden 512, vocab 4096), same bf16 weights and
//! seed in one process:
//! - logits of a 2-sequence prefill step (prefill attention kernel) and of the following 2-sequence
//!   decode step (decode attention kernel): relative L2 error ≤ 1e-2 (the GPU keeps the residual
//!   stream in bf16, the CPU in f32);
//! - 32 greedy steps of 3 requests through `ModelRunner::execute` (hand-built scheduler outputs):
//!   identical token ids.
//!
//! Needs a GPU: prints `SKIPPED: <reason>` and passes without libcuda or a device (checked before any
//! cudarc call). Build here with `cargo test -p llmserve-engine --features cuda --test cuda_vs_cpu
//! --no-run` and run the binary on the GPU machine (scripts/gpu-check.sh).

use std::sync::Arc;

use llmserve_engine::cuda::{CudaModelRunner, CudaRunnerConfig};
use llmserve_engine::{CpuBackend, CpuBackendConfig, CpuModelRunner, ModelRunner};
use llmserve_kernels::DType;
use llmserve_models::config::LlamaConfig;
use llmserve_models::llama::metadata::SequenceChunk;
use llmserve_models::llama::{AttentionMetadata, LlamaModel, LlamaWeights, MatmulPrecision};
use llmserve_models::synthetic::synthetic_tensors;
use llmserve_models::tensor::TensorStore;
use llmserve_scheduler::{BlockId, CachedRequestData, NewRequestData, RequestId, SamplingParams, SchedulerOutput};

const BLOCK: usize = 16;
const STEPS: usize = 32;

fn config() -> LlamaConfig {
    serde_json::from_value(serde_json::json!({
        "hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 4,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
        "vocab_size": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        "max_position_embeddings": 512, "tie_word_embeddings": true
    }))
    .expect("config")
}

fn skip_reason() -> Option<String> {
    llmserve_engine::cuda::device::cuda_unavailable_reason()
}

fn backends(seed: u64) -> (TensorStore, LlamaConfig, CpuBackend, CudaModelRunner) {
    let cfg = config();
    let store = synthetic_tensors(&cfg, seed, DType::BF16).expect("synthetic weights");
    let weights = LlamaWeights::from_store(&store, &cfg).expect("weights");
    let cpu = CpuBackend::new(
        LlamaModel::new(cfg.clone(), weights, MatmulPrecision::EXACT),
        &CpuBackendConfig { threads: 0, block_size: BLOCK, kv_cache_tokens: 64 * BLOCK },
    )
    .expect("cpu backend");
    let rc = CudaRunnerConfig { block_size: BLOCK, max_num_seqs: 8, max_num_batched_tokens: 256, num_kv_blocks: Some(64), ..Default::default() };
    let gpu = CudaModelRunner::new(&store, &cfg, &rc).expect("cuda runner");
    (store, cfg, cpu, gpu)
}

/// ‖a − b‖₂ / ‖a‖₂ and max |a − b|.
fn errors(want: &[f32], got: &[f32]) -> (f64, f64) {
    assert_eq!(want.len(), got.len());
    let (mut num, mut den, mut max) = (0f64, 0f64, 0f64);
    for (&a, &b) in want.iter().zip(got) {
        assert!(b.is_finite(), "GPU logit not finite");
        let d = (a - b) as f64;
        num += d * d;
        den += (a as f64) * (a as f64);
        max = max.max(d.abs());
    }
    ((num / den.max(1e-30)).sqrt(), max)
}

fn prompt(seed: u32, len: usize) -> Vec<u32> {
    (0..len as u32).map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i * 7919)) % 4096).collect()
}

#[test]
fn logits_match_the_cpu_backend() {
    if let Some(why) = skip_reason() {
        println!("SKIPPED logits_match_the_cpu_backend: {why}");
        return;
    }
    let (_store, _cfg, mut cpu, mut gpu) = backends(11);
    let (a, b) = (prompt(1, 37), prompt(2, 20));
    let (ta, tb): (Vec<u32>, Vec<u32>) = ((0..4).collect(), (4..6).collect());
    // Prefill both sequences in one step.
    let meta = AttentionMetadata::for_sequences(
        &[
            SequenceChunk { num_cached: 0, num_new: a.len(), block_table: &ta, wants_logits: true },
            SequenceChunk { num_cached: 0, num_new: b.len(), block_table: &tb, wants_logits: true },
        ],
        BLOCK,
    )
    .expect("metadata");
    let tokens: Vec<u32> = a.iter().chain(&b).copied().collect();
    let mut want = Vec::new();
    cpu.execute(&tokens, &meta, &mut want).expect("cpu prefill");
    let got = gpu.forward_logits(&tokens, &meta).expect("gpu prefill");
    let (rel, max) = errors(&want, &got);
    println!("prefill (2 seqs, {} tokens): relative L2 error {rel:.2e}, max abs error {max:.3e}", tokens.len());
    assert!(rel <= 1e-2, "prefill logits differ: relative L2 error {rel}");

    // One decode step of both (the decode kernel), then one more.
    for step in 0..2 {
        let meta = AttentionMetadata::for_sequences(
            &[
                SequenceChunk { num_cached: a.len() + step, num_new: 1, block_table: &ta, wants_logits: true },
                SequenceChunk { num_cached: b.len() + step, num_new: 1, block_table: &tb, wants_logits: true },
            ],
            BLOCK,
        )
        .expect("metadata");
        let tokens = [100 + step as u32, 200 + step as u32];
        cpu.execute(&tokens, &meta, &mut want).expect("cpu decode");
        let got = gpu.forward_logits(&tokens, &meta).expect("gpu decode");
        let (rel, max) = errors(&want, &got);
        println!("decode step {step} (2 seqs): relative L2 error {rel:.2e}, max abs error {max:.3e}");
        assert!(rel <= 1e-2, "decode logits differ: relative L2 error {rel}");
    }
}

/// Runs 3 greedy requests for STEPS steps through `execute`; returns each request's tokens.
fn greedy_run(runner: &mut dyn ModelRunner) -> Vec<Vec<u32>> {
    let prompts = [prompt(3, 29), prompt(4, 5), prompt(5, 48)];
    let params = Arc::new(SamplingParams::greedy(STEPS as u32));
    let blocks_per = (48 + STEPS).div_ceil(BLOCK) as u32;
    let new_requests: Vec<NewRequestData> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| NewRequestData {
            request_id: RequestId(i as u64),
            token_ids: p.clone(),
            num_prompt_tokens: p.len(),
            sampling_params: Arc::clone(&params),
            block_ids: (i as u32 * blocks_per..(i as u32 + 1) * blocks_per).map(BlockId).collect(),
            num_computed_tokens: 0,
        })
        .collect();
    let mut out = SchedulerOutput {
        num_scheduled_tokens: prompts.iter().enumerate().map(|(i, p)| (RequestId(i as u64), p.len())).collect(),
        total_num_scheduled_tokens: prompts.iter().map(Vec::len).sum(),
        new_requests,
        ..Default::default()
    };
    let mut tokens = vec![Vec::new(); prompts.len()];
    let mut computed: Vec<usize> = prompts.iter().map(Vec::len).collect();
    for step in 0..STEPS {
        let result = runner.execute(&out).expect("execute");
        for (id, t) in result.sampled_token_ids {
            assert_eq!(t.len(), 1, "step {step}: one token per request");
            tokens[id.0 as usize].push(t[0]);
        }
        out = SchedulerOutput {
            step: step as u64 + 1,
            cached_requests: (0..prompts.len())
                .map(|i| CachedRequestData { request_id: RequestId(i as u64), new_block_ids: Vec::new(), num_computed_tokens: computed[i] })
                .collect(),
            num_scheduled_tokens: (0..prompts.len()).map(|i| (RequestId(i as u64), 1)).collect(),
            total_num_scheduled_tokens: prompts.len(),
            ..Default::default()
        };
        for c in &mut computed {
            *c += 1;
        }
    }
    tokens
}

/// The CPU half of the comparison runs everywhere: the config parses, the synthetic weights build and
/// the hand-built scheduler outputs satisfy the runner's bookkeeping for all 32 steps.
#[test]
fn cpu_side_of_the_comparison_runs() {
    let cfg = config();
    let store = synthetic_tensors(&cfg, 12, DType::BF16).expect("synthetic weights");
    let weights = LlamaWeights::from_store(&store, &cfg).expect("weights");
    let cpu = CpuBackend::new(
        LlamaModel::new(cfg.clone(), weights, MatmulPrecision::EXACT),
        &CpuBackendConfig { threads: 0, block_size: BLOCK, kv_cache_tokens: 64 * BLOCK },
    )
    .expect("cpu backend");
    let mut cpu = CpuModelRunner::from_backend(cpu);
    let tokens = greedy_run(&mut cpu);
    assert!(tokens.iter().all(|t| t.len() == STEPS && t.iter().all(|&id| id < 4096)));
    // The GPU plan for this config and these limits is valid.
    let rc = CudaRunnerConfig { block_size: BLOCK, max_num_seqs: 8, max_num_batched_tokens: 256, num_kv_blocks: Some(64), ..Default::default() };
    let plan = llmserve_engine::cuda::BufferPlan::new(&cfg, &rc).expect("plan");
    assert_eq!(plan.qkv_width, 6144);
}

#[test]
fn greedy_tokens_match_the_cpu_backend() {
    if let Some(why) = skip_reason() {
        println!("SKIPPED greedy_tokens_match_the_cpu_backend: {why}");
        return;
    }
    let (_store, _cfg, cpu, mut gpu) = backends(12);
    let mut cpu = CpuModelRunner::from_backend(cpu);
    let want = greedy_run(&mut cpu);
    let got = greedy_run(&mut gpu);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let same = w.iter().zip(g).take_while(|(a, b)| a == b).count();
        println!("request {i}: {same}/{STEPS} greedy tokens identical");
        assert_eq!(w, g, "request {i}: greedy tokens differ from step {same}");
    }
}

use llmserve_kernels::DType;
use llmserve_models::llama::metadata::SequenceChunk;

use super::*;

fn tiny_config() -> LlamaConfig {
    serde_json::from_value(serde_json::json!({
        "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 4,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
        "vocab_size": 1000, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "max_position_embeddings": 100, "tie_word_embeddings": true
    }))
    .unwrap()
}

#[test]
fn buffer_plan_sizes() {
    let cfg = tiny_config();
    let rc = CudaRunnerConfig { block_size: 16, max_num_seqs: 8, max_num_batched_tokens: 64, ..Default::default() };
    let p = BufferPlan::new(&cfg, &rc).unwrap();
    assert_eq!((p.q_dim, p.kv_dim, p.qkv_width), (4096, 1024, 6144));
    assert_eq!(p.max_blocks_per_seq, 7); // ceil(100 / 16)
    assert_eq!(p.max_seqs, 8);
    assert_eq!(p.logits_bytes(), 8 * 1000 * 4);
    assert_eq!(p.activation_bytes(), 2 * (64 * (3 * 256 + 6144 + 4096 + 3 * 512) + 2 * 8 * 256));
    let bad = CudaRunnerConfig { max_model_len: Some(101), ..rc.clone() };
    assert!(matches!(BufferPlan::new(&cfg, &bad), Err(CudaBackendError::Config(_))));
    let bad = CudaRunnerConfig { gpu_memory_utilization: 0.0, ..rc };
    assert!(BufferPlan::new(&cfg, &bad).is_err());
}

#[test]
fn kv_cache_is_sized_from_free_memory() {
    // LLaMA-3-8B geometry: 32 layers × 8 kv heads × 128 dims, block 16 → 2 MiB per block.
    let mut cfg = tiny_config();
    cfg.num_hidden_layers = 32;
    let block = kv_block_bytes(&cfg, 16);
    assert_eq!(block, 2 * 32 * 16 * 1024 * 2);
    let gib = 1usize << 30;
    // 80 GiB card, 17 GiB used (weights + buffers): 0.9 · 80 − 17 = 55 GiB → 27 648 blocks.
    assert_eq!(kv_cache_blocks(63 * gib, 80 * gib, 0.9, block).unwrap(), 55 * gib / block);
    // Another process holds memory: never more than what is free.
    assert_eq!(kv_cache_blocks(gib, 80 * gib, 1.0, block).unwrap(), gib / block);
    assert!(matches!(kv_cache_blocks(10 * gib, 80 * gib, 0.5, block), Err(CudaBackendError::OutOfMemory(_))));
}

#[test]
fn step_inputs_from_metadata() {
    let cfg = tiny_config();
    let rc = CudaRunnerConfig { block_size: 4, max_num_seqs: 4, max_num_batched_tokens: 16, ..Default::default() };
    let plan = BufferPlan::new(&cfg, &rc).unwrap();
    let meta = AttentionMetadata::for_sequences(
        &[
            SequenceChunk { num_cached: 4, num_new: 2, block_table: &[7, 3], wants_logits: true },
            SequenceChunk { num_cached: 0, num_new: 3, block_table: &[5], wants_logits: false },
        ],
        4,
    )
    .unwrap();
    let mut s = StepInputs::default();
    s.fill(&[1, 2, 3, 4, 5], &meta, &plan).unwrap();
    assert_eq!(s.positions, vec![4, 5, 0, 1, 2]);
    assert_eq!(s.slot_mapping, vec![12, 13, 20, 21, 22]);
    assert_eq!(s.query_start_loc, vec![0, 2, 5]);
    assert_eq!(s.seq_lens, vec![6, 3]);
    // Fixed width 25 = ceil(100 / 4), zero padded.
    assert_eq!(plan.max_blocks_per_seq, 25);
    assert_eq!(s.block_tables.len(), 50);
    assert_eq!(&s.block_tables[..3], &[7, 3, 0]);
    assert_eq!(&s.block_tables[25..27], &[5, 0]);
    assert_eq!(s.logits_indices, vec![1]);
    assert_eq!((s.max_query_len, s.max_seq_len), (3, 6));
    assert!(!s.is_decode_only());

    let decode = AttentionMetadata::for_sequences(
        &[
            SequenceChunk { num_cached: 6, num_new: 1, block_table: &[7, 3], wants_logits: true },
            SequenceChunk { num_cached: 3, num_new: 1, block_table: &[5], wants_logits: true },
        ],
        4,
    )
    .unwrap();
    s.fill(&[9, 8], &decode, &plan).unwrap();
    assert!(s.is_decode_only());
    assert_eq!(s.slot_mapping, vec![14, 23]);

    // Over the limits: named errors, no panic.
    let many: Vec<u32> = vec![1; 17];
    let big = AttentionMetadata::for_sequences(&[SequenceChunk { num_cached: 0, num_new: 17, block_table: &[0, 1, 2, 3, 4], wants_logits: true }], 4).unwrap();
    assert!(matches!(s.fill(&many, &big, &plan), Err(CudaBackendError::Capacity { what: "tokens in a step", .. })));
    assert!(matches!(s.fill(&[1000, 1], &decode, &plan), Err(CudaBackendError::Capacity { what: "token id", .. })));
}

#[test]
fn fused_weights_concatenate_rows() {
    let q = WeightTensor::from_f32("q".into(), DType::F32, vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let k = WeightTensor::from_f32("k".into(), DType::F16, vec![1, 3], &[-1.0, 0.5, 0.25]).unwrap();
    let fused = fused_rows_bf16("qk", &[&q, &k]).unwrap();
    let got: Vec<f32> = fused.iter().map(|v| v.to_f32()).collect();
    assert_eq!(got, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -1.0, 0.5, 0.25]);
    let wide = WeightTensor::from_f32("w".into(), DType::F32, vec![1, 4], &[0.0; 4]).unwrap();
    assert!(matches!(fused_rows_bf16("bad", &[&q, &wide]), Err(CudaBackendError::Weights(_))));
}

#[test]
fn sampling_inputs_match_the_cpu_sampler() {
    let mut p = SamplingParams { temperature: 0.7, top_k: 5, seed: Some(3), ..Default::default() };
    let r = row_params(&p, 3, 4);
    assert_eq!(r.uniform, uniform_for_output(3, 4));
    assert!((0.0..1.0).contains(&r.uniform));
    assert_ne!(uniform_for_output(3, 4), uniform_for_output(3, 5));
    assert_eq!((r.temperature, r.top_k), (0.7, 5));
    p.temperature = 0.0;
    assert_eq!(row_params(&p, 3, 4).temperature, 0.0);

    let mut entries = Vec::new();
    push_penalty_entries(0, &p, &[5, 6, 7, 7, 9], 3, &mut entries);
    assert!(entries.is_empty(), "no penalty → no entries");
    p.repetition_penalty = 1.2;
    p.frequency_penalty = 0.5;
    push_penalty_entries(2, &p, &[5, 6, 7, 7, 9], 3, &mut entries);
    let got: Vec<(u32, u32, u32)> = entries.iter().map(|e| (e.row, e.token, e.output_count)).collect();
    assert_eq!(got, vec![(2, 5, 0), (2, 6, 0), (2, 7, 1), (2, 9, 1)]);

    p.logit_bias.insert(3, 1.5);
    p.logit_bias.insert(5000, 2.0);
    let mut bias = Vec::new();
    push_logit_bias_entries(1, &p, 1000, &mut bias);
    assert_eq!(bias, vec![LogitBiasEntry { row: 1, token: 3, bias: 1.5 }]);
}

//! Deterministic synthetic weights for any LLaMA config (`--weights random --seed N`), so that large
//! models (LLaMA-3-8B) can be benchmarked without a download.
//!
//! Every element is a counter-based hash of (seed, tensor index, element index) (SplitMix64), so the
//! result does not depend on thread count or generation order. Linear weights are uniform in
//! ±sqrt(3 / in_features) (unit-variance outputs for unit-variance inputs, as Kaiming-uniform); norm
//! weights are 1 ± 0.1; embeddings ±1. The values are meaningless but numerically well-behaved, so
//! the forward pass produces finite logits of realistic magnitude at every depth.

use llmserve_kernels::DType;
use rayon::prelude::*;

use crate::config::LlamaConfig;
use crate::error::ModelError;
use crate::tensor::{TensorStore, WeightTensor};

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform value in [-1, 1) for element `i` of stream `stream`.
fn uniform(seed: u64, stream: u64, i: u64) -> f32 {
    let h = splitmix64(seed ^ splitmix64(stream.wrapping_mul(0x100_0000_01B3) ^ i));
    ((h >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// Names, shapes and value ranges of every tensor of `cfg`, GGUF naming.
fn tensor_plan(cfg: &LlamaConfig) -> Vec<(String, Vec<usize>, TensorKind)> {
    let (h, ff, qd, kvd) = (cfg.hidden_size, cfg.intermediate_size, cfg.q_dim(), cfg.kv_dim());
    let mut plan = vec![("token_embd.weight".to_string(), vec![cfg.vocab_size, h], TensorKind::Embedding)];
    for i in 0..cfg.num_hidden_layers {
        let p = format!("blk.{i}.");
        plan.push((format!("{p}attn_norm.weight"), vec![h], TensorKind::Norm));
        plan.push((format!("{p}attn_q.weight"), vec![qd, h], TensorKind::Linear));
        plan.push((format!("{p}attn_k.weight"), vec![kvd, h], TensorKind::Linear));
        plan.push((format!("{p}attn_v.weight"), vec![kvd, h], TensorKind::Linear));
        plan.push((format!("{p}attn_output.weight"), vec![h, qd], TensorKind::Linear));
        plan.push((format!("{p}ffn_norm.weight"), vec![h], TensorKind::Norm));
        plan.push((format!("{p}ffn_gate.weight"), vec![ff, h], TensorKind::Linear));
        plan.push((format!("{p}ffn_up.weight"), vec![ff, h], TensorKind::Linear));
        plan.push((format!("{p}ffn_down.weight"), vec![h, ff], TensorKind::Linear));
    }
    plan.push(("output_norm.weight".to_string(), vec![h], TensorKind::Norm));
    if !cfg.tie_word_embeddings {
        plan.push(("output.weight".to_string(), vec![cfg.vocab_size, h], TensorKind::Linear));
    }
    plan
}

#[derive(Clone, Copy)]
enum TensorKind {
    Embedding,
    Linear,
    Norm,
}

/// Generates all tensors of `cfg`: matrices stored as `dtype`, norms as F32.
pub fn synthetic_tensors(cfg: &LlamaConfig, seed: u64, dtype: DType) -> Result<TensorStore, ModelError> {
    cfg.validate()?;
    let mut store = TensorStore::new(std::path::Path::new("<synthetic>"));
    for (idx, (name, shape, kind)) in tensor_plan(cfg).into_iter().enumerate() {
        let n: usize = shape.iter().product();
        let cols = *shape.last().unwrap_or(&1);
        let (scale, offset, t_dtype) = match kind {
            TensorKind::Embedding => (1.0f32, 0.0f32, dtype),
            TensorKind::Linear => ((3.0 / cols as f32).sqrt(), 0.0, dtype),
            TensorKind::Norm => (0.1, 1.0, DType::F32),
        };
        let mut values = vec![0f32; n];
        values.par_chunks_mut(1 << 16).enumerate().for_each(|(c, chunk)| {
            for (j, v) in chunk.iter_mut().enumerate() {
                *v = offset + scale * uniform(seed, idx as u64, (c * (1 << 16) + j) as u64);
            }
        });
        let t = WeightTensor::from_f32(name.clone(), t_dtype, shape, &values)
            .map_err(|reason| ModelError::BadTensor { path: store.path.clone(), tensor: name, reason })?;
        store.insert(t)?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> LlamaConfig {
        serde_json::from_value(serde_json::json!({
            "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100
        }))
        .unwrap()
    }

    #[test]
    fn synthetic_weights_are_deterministic_and_seed_dependent() {
        let a = synthetic_tensors(&tiny(), 1, DType::Q8_0).unwrap();
        let b = synthetic_tensors(&tiny(), 1, DType::Q8_0).unwrap();
        let c = synthetic_tensors(&tiny(), 2, DType::Q8_0).unwrap();
        let name = "blk.1.ffn_up.weight";
        assert_eq!(a.get(name).unwrap().bytes(), b.get(name).unwrap().bytes());
        assert_ne!(a.get(name).unwrap().bytes(), c.get(name).unwrap().bytes());
        assert_eq!(a.get(name).unwrap().shape, vec![128, 64]);
        assert_eq!(a.get("blk.0.attn_norm.weight").unwrap().dtype, DType::F32);
        assert!(a.get("output.weight").is_some());
    }

    #[test]
    fn uniform_values_cover_the_range() {
        let v: Vec<f32> = (0..10_000).map(|i| uniform(3, 4, i)).collect();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
        assert!(v.iter().any(|&x| x > 0.99) && v.iter().any(|&x| x < -0.99));
    }
}

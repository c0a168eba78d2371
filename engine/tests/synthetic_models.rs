//! Synthetic weights of every storage type run through the paged CPU forward: logits are finite, the
//! same seed gives the same logits, and every quantized type's forward agrees with the F32 model built
//! from the same values to within its quantization error (measured as correlation of the logits).

use llmserve_engine::generate::score;
use llmserve_engine::{CpuBackend, CpuBackendConfig};
use llmserve_models::config::LlamaConfig;
use llmserve_models::llama::MatmulPrecision;
use llmserve_models::model::{LoadedModel, ModelSource};
use llmserve_models::DType;

fn tiny_config() -> LlamaConfig {
    serde_json::from_value(serde_json::json!({
        "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
        "max_position_embeddings": 128, "rope_theta": 10000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
    }))
    .unwrap()
}

fn logits_for(dtype: DType, seed: u64, precision: MatmulPrecision) -> Vec<f32> {
    let source = ModelSource::Synthetic { config: Box::new(tiny_config()), seed, dtype, tokenizer_dir: None };
    let model = LoadedModel::load(&source).unwrap();
    let llama = model.build_llama(precision).unwrap();
    let mut be = CpuBackend::new(llama, &CpuBackendConfig { threads: 2, kv_cache_tokens: 64, block_size: 8 }).unwrap();
    let ids: Vec<u32> = (0..40).map(|i| (i * 37 + 11) % 300).collect();
    score(&mut be, &ids, 16).unwrap()
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&x| x as f64).sum::<f64>() / n, b.iter().map(|&x| x as f64).sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb)).sum();
    let va: f64 = a.iter().map(|&x| (x as f64 - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|&y| (y as f64 - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn every_weight_type_runs_and_tracks_the_f32_model() {
    let reference = logits_for(DType::F32, 5, MatmulPrecision::EXACT);
    assert!(reference.iter().all(|v| v.is_finite()));
    for dtype in DType::ALL {
        for precision in [MatmulPrecision::FAST, MatmulPrecision::BALANCED] {
            let got = logits_for(dtype, 5, precision);
            assert!(got.iter().all(|v| v.is_finite()), "{dtype}: non-finite logits");
            let r = correlation(&got, &reference);
            // 4-bit weights of uniform random values lose the most; half precision almost nothing.
            let min_r = match dtype {
                DType::F32 | DType::F16 | DType::BF16 => 0.9999,
                DType::Q8_0 | DType::Q6K => 0.998,
                _ => 0.97,
            };
            eprintln!("{dtype} {precision:?}: correlation with F32 logits {r:.5}");
            assert!(r >= min_r, "{dtype}: correlation {r} < {min_r}");
        }
    }
}

#[test]
fn same_seed_same_logits_different_seed_different_logits() {
    let a = logits_for(DType::Q4_0, 1, MatmulPrecision::FAST);
    assert_eq!(a, logits_for(DType::Q4_0, 1, MatmulPrecision::FAST));
    assert_ne!(a, logits_for(DType::Q4_0, 2, MatmulPrecision::FAST));
}

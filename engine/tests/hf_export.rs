//! The default model exported as a Hugging Face directory (`export_hf`) loads back to the same model:
//! identical token ids for every reference prompt, and the same logits — to f32 rounding for an F32
//! export, to bf16 rounding for a BF16 export — when both run with f32 activations.

use std::path::PathBuf;

use llmserve_engine::generate::score;
use llmserve_engine::{CpuBackend, CpuBackendConfig};
use llmserve_models::DType;
use llmserve_models::default_model;
use llmserve_models::export::{export_hf, HfExportOptions};
use llmserve_models::llama::MatmulPrecision;
use llmserve_models::model::LoadedModel;
use serde_json::Value;

fn cases() -> Vec<(String, String, bool)> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/smollm2-llamacpp.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["text"].as_str().unwrap().to_string(), c["parse_special"].as_bool().unwrap()))
        .collect()
}

fn logits(model: &LoadedModel, ids: &[u32]) -> Vec<f32> {
    let p = MatmulPrecision::EXACT;
    let llama = model.build_llama(p).unwrap();
    let mut be = CpuBackend::new(llama, &CpuBackendConfig { threads: 2, kv_cache_tokens: ids.len(), ..Default::default() }).unwrap();
    score(&mut be, ids, 512).unwrap()
}

/// Largest |a − b| relative to the largest |b|.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / scale
}

#[test]
fn hf_export_round_trips_ids_and_logits() {
    let Some(path) = default_model::for_tests() else { return };
    let gguf = LoadedModel::from_gguf(&path).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let probe: Vec<u32> = gguf.tokenizer.as_ref().unwrap().encode("The capital of France is Paris, and the capital of Italy is", false).unwrap();
    let base = logits(&gguf, &probe);
    for (dtype, tol, shard) in [(DType::F32, 1e-4f32, 1u64 << 40), (DType::BF16, 2e-2, 64 << 20)] {
        let dir = tmp.path().join(dtype.to_string());
        let files = export_hf(&gguf, &dir, &HfExportOptions { dtype, max_shard_bytes: shard }).unwrap();
        assert!(files.iter().any(|f| f.ends_with("config.json")));
        if dtype == DType::BF16 {
            assert!(dir.join("model.safetensors.index.json").is_file(), "64 MiB shards → sharded export with an index");
        }
        let hf = LoadedModel::from_hf_dir(&dir).unwrap();
        assert_eq!(hf.config.vocab_size, gguf.config.vocab_size);
        let (a, b) = (gguf.tokenizer.as_ref().unwrap(), hf.tokenizer.as_ref().unwrap());
        for (name, text, special) in cases() {
            assert_eq!(a.encode(&text, special).unwrap(), b.encode(&text, special).unwrap(), "{dtype} case {name}");
        }
        let got = logits(&hf, &probe);
        let d = rel_diff(&got, &base);
        eprintln!("{dtype} export: max relative logit difference {d:.2e} (limit {tol:.0e})");
        assert!(d <= tol, "{dtype} export: logits differ by {d} relative (limit {tol})");
        let vocab = gguf.config.vocab_size;
        let last = probe.len() - 1;
        assert_eq!(
            llmserve_engine::sampler::argmax(&got[last * vocab..]),
            llmserve_engine::sampler::argmax(&base[last * vocab..])
        );
    }
}

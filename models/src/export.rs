//! Writing a loaded model as a Hugging Face directory: `config.json`, `generation_config.json`,
//! (sharded) safetensors in F32/BF16/F16 with HF tensor names and the HF "rotate half" Q/K row order,
//! and the tokenizer files. Quantized GGUF weights are dequantized (exactly, in f32) first.
//!
//! Loading the result with [`crate::model::LoadedModel::from_hf_dir`] gives the same model up to the
//! rounding of the chosen dtype (none for F32). Peak memory: the whole converted model (weights are
//! converted before writing).

use std::path::{Path, PathBuf};

use llmserve_kernels::DType;
use rayon::prelude::*;

use crate::error::ModelError;
use crate::model::{gguf_to_hf_name, permute_rope_rows, LoadedModel, RopeLayout};
use crate::safetensors::write_sharded;
use crate::tensor::WeightTensor;

/// Options of [`export_hf`].
#[derive(Clone, Debug)]
pub struct HfExportOptions {
    /// F32, BF16 or F16.
    pub dtype: DType,
    /// Largest shard in bytes.
    pub max_shard_bytes: u64,
}

/// Exports `model` into `dir` (created; refused if it exists and is not empty). Returns the files written.
pub fn export_hf(model: &LoadedModel, dir: &Path, opts: &HfExportOptions) -> Result<Vec<PathBuf>, ModelError> {
    if !matches!(opts.dtype, DType::F32 | DType::BF16 | DType::F16) {
        return Err(ModelError::Unsupported {
            path: dir.to_path_buf(),
            what: "export dtype".into(),
            found: opts.dtype.to_string(),
            supported: "F32, BF16, F16".into(),
        });
    }
    if dir.exists() && std::fs::read_dir(dir).map_err(|e| ModelError::io(dir, e))?.next().is_some() {
        return Err(ModelError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, "output directory exists and is not empty"),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let cfg = &model.config;
    let sources: Vec<&WeightTensor> = model
        .tensors
        .iter()
        .filter(|t| !(cfg.tie_word_embeddings && t.name == "output.weight"))
        .collect();
    let converted: Vec<WeightTensor> = sources
        .par_iter()
        .map(|t| -> Result<Option<WeightTensor>, ModelError> {
            let Some(hf_name) = gguf_to_hf_name(&t.name) else { return Ok(None) };
            let bad = |reason: String| ModelError::BadTensor { path: model.tensors.path.clone(), tensor: t.name.clone(), reason };
            let mut out = WeightTensor::from_f32(hf_name, opts.dtype, t.shape.clone(), &t.to_f32()).map_err(bad)?;
            let heads = if t.name.ends_with("attn_q.weight") {
                Some(cfg.num_attention_heads)
            } else if t.name.ends_with("attn_k.weight") {
                Some(cfg.num_kv_heads())
            } else {
                None
            };
            if let Some(h) = heads {
                out = permute_rope_rows(&out, h, RopeLayout::GgufToHf).map_err(bad)?;
            }
            Ok(Some(out))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut written = write_sharded(dir, converted.iter(), opts.max_shard_bytes as usize)?;

    let mut hf_cfg = cfg.clone();
    hf_cfg.torch_dtype = Some(
        match opts.dtype {
            DType::F32 => "float32",
            DType::F16 => "float16",
            _ => "bfloat16",
        }
        .into(),
    );
    hf_cfg.head_dim = Some(cfg.head_dim());
    hf_cfg.num_key_value_heads = Some(cfg.num_kv_heads());
    let write_json = |name: &str, v: &serde_json::Value| -> Result<PathBuf, ModelError> {
        let p = dir.join(name);
        let text = serde_json::to_string_pretty(v).map_err(|e| ModelError::Config { reason: e.to_string() })?;
        std::fs::write(&p, text + "\n").map_err(|e| ModelError::io(&p, e))?;
        Ok(p)
    };
    let cfg_json = serde_json::to_value(&hf_cfg).map_err(|e| ModelError::Config { reason: e.to_string() })?;
    written.push(write_json("config.json", &cfg_json)?);
    let mut gen = serde_json::json!({ "_from_model_config": true });
    if let Some(b) = cfg.bos_token_id {
        gen["bos_token_id"] = b.into();
    }
    if let Some(e) = &cfg.eos_token_id {
        gen["eos_token_id"] = e.clone();
    }
    written.push(write_json("generation_config.json", &gen)?);
    if let Some(tok) = &model.tokenizer {
        tok.save_hf(dir)?;
        written.push(dir.join("tokenizer.json"));
        written.push(dir.join("tokenizer_config.json"));
    }
    Ok(written)
}

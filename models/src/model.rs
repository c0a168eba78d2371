//! The one model abstraction: config + named tensors (GGUF naming) + tokenizer + chat template, from a
//! GGUF file, a Hugging Face directory, or synthetic weights.
//!
//! Hugging Face checkpoints are renamed to GGUF tensor names at load, and their Q/K projection rows are
//! permuted from the "rotate half" RoPE layout to llama.cpp's adjacent-pair layout (the inverse of the
//! permutation llama.cpp's `convert_hf_to_gguf.py` applies), so one forward pass serves both formats.

use std::path::{Path, PathBuf};

use llmserve_kernels::DType;

use crate::config::LlamaConfig;
use crate::error::ModelError;
use crate::gguf::GgufFile;
use crate::llama::{LlamaModel, LlamaWeights, MatmulPrecision};
use crate::safetensors::load_safetensors_dir;
use crate::synthetic::synthetic_tensors;
use crate::tensor::{TensorStore, WeightTensor};
use crate::tokenizer::Tokenizer;

/// Where a model comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// A `.gguf` file.
    Gguf(PathBuf),
    /// A Hugging Face directory with `config.json` and safetensors.
    HfDir(PathBuf),
    /// Random weights for a config, stored as `dtype`; optional tokenizer directory.
    Synthetic { config: Box<LlamaConfig>, seed: u64, dtype: DType, tokenizer_dir: Option<PathBuf> },
}

impl ModelSource {
    /// A path: a directory is a HF checkpoint, a file must be GGUF.
    pub fn from_path(path: &Path) -> Result<ModelSource, ModelError> {
        if path.is_dir() {
            Ok(ModelSource::HfDir(path.to_path_buf()))
        } else if path.is_file() {
            Ok(ModelSource::Gguf(path.to_path_buf()))
        } else {
            Err(ModelError::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory")))
        }
    }
}

/// A model in memory (tensors memory-mapped where the format allows).
pub struct LoadedModel {
    /// Name reported to clients (file stem or directory name).
    pub id: String,
    pub source: ModelSource,
    pub config: LlamaConfig,
    /// Tensors in GGUF naming.
    pub tensors: TensorStore,
    pub tokenizer: Option<Tokenizer>,
}

/// HF tensor name → GGUF tensor name; `None` for tensors the architecture ignores (e.g. rotary caches).
fn hf_to_gguf_name(name: &str) -> Option<String> {
    let simple = match name {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(s) = simple {
        return Some(s.to_string());
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (layer, tail) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let gguf = match tail {
        "input_layernorm.weight" => "attn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        _ => return None,
    };
    Some(format!("blk.{layer}.{gguf}"))
}

/// GGUF tensor name → HF tensor name (for export).
pub fn gguf_to_hf_name(name: &str) -> Option<String> {
    let simple = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(s) = simple {
        return Some(s.to_string());
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, tail) = rest.split_once('.')?;
    let hf = match tail {
        "attn_norm.weight" => "input_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}"))
}

/// Direction of the Q/K row permutation between HF ("rotate half") and GGUF (adjacent pairs) layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeLayout {
    /// HF → GGUF, applied at load.
    HfToGguf,
    /// GGUF → HF, applied at export.
    GgufToHf,
}

/// Permutes the rows of a Q or K projection `[heads · head_dim, in]` between RoPE layouts. Within each
/// head, HF row `half · D/2 + i` is GGUF row `2i + half`. Works on whole rows of any dtype.
pub fn permute_rope_rows(t: &WeightTensor, heads: usize, direction: RopeLayout) -> Result<WeightTensor, String> {
    let (rows, cols) = t.rows_cols();
    if heads == 0 || !rows.is_multiple_of(heads) || !(rows / heads).is_multiple_of(2) {
        return Err(format!("{}: {rows} rows are not {heads} heads of an even head size", t.name));
    }
    let d = rows / heads;
    let rb = t.dtype.bytes_for(cols).ok_or_else(|| format!("{}: row is not whole blocks", t.name))?;
    let src = t.bytes();
    let mut out = vec![0u8; src.len()];
    for h in 0..heads {
        for half in 0..2 {
            for i in 0..d / 2 {
                let hf = h * d + half * d / 2 + i;
                let gg = h * d + 2 * i + half;
                let (from, to) = match direction {
                    RopeLayout::HfToGguf => (hf, gg),
                    RopeLayout::GgufToHf => (gg, hf),
                };
                out[to * rb..(to + 1) * rb].copy_from_slice(&src[from * rb..(from + 1) * rb]);
            }
        }
    }
    WeightTensor::owned(t.name.clone(), t.dtype, t.shape.clone(), out)
}

fn stem(path: &Path) -> String {
    path.file_stem().or_else(|| path.file_name()).map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
}

impl LoadedModel {
    /// Loads from any source.
    pub fn load(source: &ModelSource) -> Result<LoadedModel, ModelError> {
        match source {
            ModelSource::Gguf(p) => Self::from_gguf(p),
            ModelSource::HfDir(p) => Self::from_hf_dir(p),
            ModelSource::Synthetic { config, seed, dtype, tokenizer_dir } => {
                let tensors = synthetic_tensors(config, *seed, *dtype)?;
                let tokenizer = tokenizer_dir.as_deref().map(Tokenizer::from_hf_dir).transpose()?;
                Ok(LoadedModel {
                    id: format!("synthetic-{}l-{}h-seed{seed}", config.num_hidden_layers, config.hidden_size),
                    source: source.clone(),
                    config: (**config).clone(),
                    tensors,
                    tokenizer,
                })
            }
        }
    }

    /// A GGUF file: config from `llama.*` metadata, tokenizer from `tokenizer.ggml.*`.
    pub fn from_gguf(path: &Path) -> Result<LoadedModel, ModelError> {
        let file = GgufFile::open(path)?;
        let config = LlamaConfig::from_gguf(&file.metadata, file.tensors.get("output.weight").is_some())?;
        let tokenizer = Tokenizer::from_gguf(&file.metadata)?;
        let model = LoadedModel {
            id: stem(path),
            source: ModelSource::Gguf(path.to_path_buf()),
            config,
            tensors: file.tensors,
            tokenizer: Some(tokenizer),
        };
        model.check_vocab()?;
        Ok(model)
    }

    /// A HF directory: `config.json`, safetensors (single or sharded), tokenizer files.
    pub fn from_hf_dir(dir: &Path) -> Result<LoadedModel, ModelError> {
        let config = LlamaConfig::from_hf_json_file(&dir.join("config.json"))?;
        let hf = load_safetensors_dir(dir)?;
        let mut tensors = TensorStore::new(dir);
        for t in hf.iter() {
            let Some(name) = hf_to_gguf_name(&t.name) else { continue };
            let mut renamed = t.clone();
            renamed.name = name.clone();
            let heads = if name.ends_with("attn_q.weight") {
                Some(config.num_attention_heads)
            } else if name.ends_with("attn_k.weight") {
                Some(config.num_kv_heads())
            } else {
                None
            };
            if let Some(heads) = heads {
                renamed = permute_rope_rows(&renamed, heads, RopeLayout::HfToGguf)
                    .map_err(|reason| ModelError::BadTensor { path: dir.to_path_buf(), tensor: t.name.clone(), reason })?;
            }
            tensors.insert(renamed)?;
        }
        let tokenizer = if dir.join("tokenizer.json").is_file() { Some(Tokenizer::from_hf_dir(dir)?) } else { None };
        let model = LoadedModel { id: stem(dir), source: ModelSource::HfDir(dir.to_path_buf()), config, tensors, tokenizer };
        model.check_vocab()?;
        Ok(model)
    }

    fn check_vocab(&self) -> Result<(), ModelError> {
        if let Some(t) = &self.tokenizer {
            if t.vocab_size() > self.config.vocab_size {
                return Err(ModelError::Config {
                    reason: format!(
                        "tokenizer has {} tokens but the model's vocab_size is {}",
                        t.vocab_size(),
                        self.config.vocab_size
                    ),
                });
            }
        }
        Ok(())
    }

    /// Resolves the weights and builds the CPU model.
    pub fn build_llama(&self, precision: MatmulPrecision) -> Result<LlamaModel, ModelError> {
        let weights = LlamaWeights::from_store(&self.tensors, &self.config)?;
        Ok(LlamaModel::new(self.config.clone(), weights, precision))
    }

    /// The chat template, if the model ships one.
    pub fn chat_template(&self) -> Option<&str> {
        self.tokenizer.as_ref().and_then(|t| t.chat_template())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        for hf in [
            "model.embed_tokens.weight",
            "model.norm.weight",
            "lm_head.weight",
            "model.layers.3.self_attn.q_proj.weight",
            "model.layers.12.mlp.down_proj.weight",
            "model.layers.0.post_attention_layernorm.weight",
        ] {
            let g = hf_to_gguf_name(hf).unwrap();
            assert_eq!(gguf_to_hf_name(&g).as_deref(), Some(hf));
        }
        assert_eq!(hf_to_gguf_name("model.layers.0.self_attn.rotary_emb.inv_freq"), None);
    }

    #[test]
    fn rope_permutation_round_trips_and_interleaves_halves() {
        let (heads, d, cols) = (2, 4, 3);
        let values: Vec<f32> = (0..heads * d * cols).map(|v| v as f32).collect();
        let t = WeightTensor::from_f32("q".into(), DType::F32, vec![heads * d, cols], &values).unwrap();
        let g = permute_rope_rows(&t, heads, RopeLayout::HfToGguf).unwrap();
        let gv = g.to_f32();
        // Head 0: HF rows [0,1 | 2,3] → GGUF rows [0,2,1,3].
        let row = |v: &[f32], r: usize| v[r * cols];
        assert_eq!([row(&gv, 0), row(&gv, 1), row(&gv, 2), row(&gv, 3)], [0.0, 6.0, 3.0, 9.0]);
        let back = permute_rope_rows(&g, heads, RopeLayout::GgufToHf).unwrap();
        assert_eq!(back.to_f32(), values);
    }
}

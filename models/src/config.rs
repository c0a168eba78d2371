//! LLaMA-family architecture hyper-parameters, read from GGUF metadata (`llama.*` keys) or a Hugging Face
//! `config.json`, and written back as `config.json` for export.
//!
//! Follows HF transformers' `LlamaConfig` field names, so `models/configs/*.json` are ordinary HF configs.
//! RoPE frequencies, including llama3 scaling (`rope_scaling.rope_type = "llama3"`, as in transformers'
//! `_compute_llama3_parameters`) or GGUF's `rope_freqs.weight` factors, are precomputed once as
//! per-pair inverse frequencies.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::gguf::GgufMetadata;

/// llama3-style RoPE scaling (LLaMA-3.1+).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RopeScaling {
    #[serde(alias = "type")]
    pub rope_type: String,
    pub factor: f64,
    #[serde(default = "default_low_freq_factor")]
    pub low_freq_factor: f64,
    #[serde(default = "default_high_freq_factor")]
    pub high_freq_factor: f64,
    #[serde(default = "default_original_max")]
    pub original_max_position_embeddings: usize,
}

fn default_low_freq_factor() -> f64 {
    1.0
}
fn default_high_freq_factor() -> f64 {
    4.0
}
fn default_original_max() -> usize {
    8192
}

/// The architecture of one LLaMA-family model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default)]
    pub head_dim: Option<usize>,
    pub vocab_size: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// One id or a list in HF configs; kept as JSON and read with [`LlamaConfig::eos_token_ids`].
    #[serde(default)]
    pub eos_token_id: Option<serde_json::Value>,
    #[serde(default = "default_arch")]
    pub architectures: Vec<String>,
    #[serde(default = "default_model_type")]
    pub model_type: String,
    #[serde(default)]
    pub torch_dtype: Option<String>,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_theta() -> f64 {
    10000.0
}
fn default_max_pos() -> usize {
    2048
}
fn default_arch() -> Vec<String> {
    vec!["LlamaForCausalLM".into()]
}
fn default_model_type() -> String {
    "llama".into()
}

fn config_err(reason: impl Into<String>) -> ModelError {
    ModelError::Config { reason: reason.into() }
}

impl LlamaConfig {
    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Width of the Q projection output.
    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim()
    }

    /// Width of the K (and V) projection output.
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads() * self.head_dim()
    }

    /// EOS ids declared by the config (an int or a list).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|v| vec![v as u32]).unwrap_or_default(),
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect(),
            _ => Vec::new(),
        }
    }

    /// Checks internal consistency; every error says which field and what was expected.
    pub fn validate(&self) -> Result<(), ModelError> {
        let nonzero = [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_kv_heads()),
            ("head_dim", self.head_dim()),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (name, v) in nonzero {
            if v == 0 {
                return Err(config_err(format!("{name} must be > 0")));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.num_kv_heads()) {
            return Err(config_err(format!(
                "num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                self.num_attention_heads,
                self.num_kv_heads()
            )));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(config_err(format!("head_dim ({}) must be even for RoPE", self.head_dim())));
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps.is_finite()) {
            return Err(config_err(format!("rms_norm_eps must be a positive number, got {}", self.rms_norm_eps)));
        }
        if !(self.rope_theta > 0.0 && self.rope_theta.is_finite()) {
            return Err(config_err(format!("rope_theta must be a positive number, got {}", self.rope_theta)));
        }
        if let Some(s) = &self.rope_scaling {
            if s.rope_type != "llama3" {
                return Err(config_err(format!(
                    "rope_scaling.rope_type `{}` is not supported (supported: llama3)",
                    s.rope_type
                )));
            }
            if !(s.factor >= 1.0 && s.high_freq_factor > s.low_freq_factor) {
                return Err(config_err(format!(
                    "rope_scaling needs factor >= 1 and high_freq_factor > low_freq_factor, got {s:?}"
                )));
            }
        }
        Ok(())
    }

    /// Reads a Hugging Face `config.json`.
    pub fn from_hf_json_file(path: &Path) -> Result<LlamaConfig, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let cfg: LlamaConfig = serde_json::from_str(&text).map_err(|e| ModelError::BadFormat {
            path: path.to_path_buf(),
            expected: "LLaMA config.json".into(),
            reason: e.to_string(),
        })?;
        if cfg.model_type != "llama" && cfg.model_type != "mistral" {
            return Err(ModelError::Unsupported {
                path: path.to_path_buf(),
                what: "model_type".into(),
                found: cfg.model_type.clone(),
                supported: "llama, mistral".into(),
            });
        }
        cfg.validate().map_err(|e| ModelError::BadFormat {
            path: path.to_path_buf(),
            expected: "a consistent LLaMA config".into(),
            reason: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Reads the `llama.*` keys of a GGUF file. `has_output_tensor` tells whether `output.weight` exists
    /// (absent → embeddings are tied).
    pub fn from_gguf(meta: &GgufMetadata, has_output_tensor: bool) -> Result<LlamaConfig, ModelError> {
        let arch = meta.require_str("general.architecture")?;
        if arch != "llama" {
            return Err(ModelError::Unsupported {
                path: meta.path.clone(),
                what: "general.architecture".into(),
                found: arch.to_string(),
                supported: "llama".into(),
            });
        }
        let heads = meta.require_usize("llama.attention.head_count")?;
        let hidden = meta.require_usize("llama.embedding_length")?;
        let head_dim = match meta.optional_u64("llama.attention.key_length")? {
            Some(k) => k as usize,
            None => match meta.optional_u64("llama.rope.dimension_count")? {
                Some(d) if d as usize * heads == hidden => d as usize,
                _ => hidden / heads.max(1),
            },
        };
        let vocab = match meta.optional_u64("llama.vocab_size")? {
            Some(v) => v as usize,
            None => meta.require_array("tokenizer.ggml.tokens")?.len(),
        };
        let cfg = LlamaConfig {
            hidden_size: hidden,
            intermediate_size: meta.require_usize("llama.feed_forward_length")?,
            num_hidden_layers: meta.require_usize("llama.block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: Some(
                meta.optional_u64("llama.attention.head_count_kv")?.map(|v| v as usize).unwrap_or(heads),
            ),
            head_dim: Some(head_dim),
            vocab_size: vocab,
            rms_norm_eps: meta.require_f64("llama.attention.layer_norm_rms_epsilon")?,
            rope_theta: meta.optional_f64("llama.rope.freq_base")?.unwrap_or(10000.0),
            rope_scaling: None,
            max_position_embeddings: meta.optional_u64("llama.context_length")?.map(|v| v as usize).unwrap_or(2048),
            tie_word_embeddings: !has_output_tensor,
            bos_token_id: meta.optional_u64("tokenizer.ggml.bos_token_id")?.map(|v| v as u32),
            eos_token_id: meta.optional_u64("tokenizer.ggml.eos_token_id")?.map(|v| serde_json::json!(v)),
            architectures: default_arch(),
            model_type: default_model_type(),
            torch_dtype: None,
        };
        cfg.validate().map_err(|e| ModelError::BadMetadata {
            path: meta.path.clone(),
            key: "llama.*".into(),
            reason: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Per-pair inverse RoPE frequencies `[head_dim / 2]`: `theta^(-2i/d)`, adjusted by llama3 scaling
    /// or divided by GGUF `rope_freqs` factors when given.
    pub fn rope_inv_freqs(&self, gguf_freq_factors: Option<&[f32]>) -> Vec<f32> {
        let d = self.head_dim();
        let mut inv: Vec<f64> = (0..d / 2).map(|i| self.rope_theta.powf(-2.0 * i as f64 / d as f64)).collect();
        if let Some(ff) = gguf_freq_factors {
            for (f, &k) in inv.iter_mut().zip(ff) {
                *f /= k as f64;
            }
        } else if let Some(s) = &self.rope_scaling {
            let old = s.original_max_position_embeddings as f64;
            let low_wavelen = old / s.low_freq_factor;
            let high_wavelen = old / s.high_freq_factor;
            for f in inv.iter_mut() {
                let wavelen = 2.0 * std::f64::consts::PI / *f;
                if wavelen > low_wavelen {
                    *f /= s.factor;
                } else if wavelen >= high_wavelen {
                    let smooth = (old / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                    *f = (1.0 - smooth) * *f / s.factor + smooth * *f;
                }
            }
        }
        inv.into_iter().map(|f| f as f32).collect()
    }

    /// Parameter count (weights only; tied output counted once).
    pub fn num_parameters(&self) -> usize {
        let h = self.hidden_size;
        let per_layer = h * (self.q_dim() + 2 * self.kv_dim()) + self.q_dim() * h + 3 * h * self.intermediate_size + 2 * h;
        let embed = self.vocab_size * h;
        embed + if self.tie_word_embeddings { 0 } else { embed } + self.num_hidden_layers * per_layer + h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama3_8b() -> LlamaConfig {
        let text = include_str!("../configs/llama-3-8b.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn llama3_8b_config_is_consistent() {
        let c = llama3_8b();
        c.validate().unwrap();
        assert_eq!(c.head_dim(), 128);
        assert_eq!(c.num_kv_heads(), 8);
        assert_eq!(c.eos_token_ids(), vec![128001, 128009]);
        let p = c.num_parameters();
        assert!((8_000_000_000..8_100_000_000).contains(&p), "{p}");
    }

    #[test]
    fn inverse_frequencies_without_scaling() {
        let mut c = llama3_8b();
        c.rope_scaling = None;
        let inv = c.rope_inv_freqs(None);
        assert_eq!(inv.len(), 64);
        assert_eq!(inv[0], 1.0);
        // Computed in f64, stored as f32: equal to f32 rounding.
        let want = 500000f64.powf(-2.0 / 128.0);
        assert!((inv[1] as f64 - want).abs() <= want * 1e-7, "{} vs {want}", inv[1]);
        let last = 500000f64.powf(-126.0 / 128.0);
        assert!((inv[63] as f64 - last).abs() <= last * 1e-7);
    }

    #[test]
    fn llama3_scaling_only_touches_low_frequencies() {
        let mut c = llama3_8b();
        c.rope_scaling = Some(RopeScaling {
            rope_type: "llama3".into(),
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        });
        let plain = {
            let mut p = c.clone();
            p.rope_scaling = None;
            p.rope_inv_freqs(None)
        };
        let scaled = c.rope_inv_freqs(None);
        assert_eq!(scaled[0], plain[0], "highest frequency unchanged");
        let last = scaled.len() - 1;
        assert!((scaled[last] - plain[last] / 8.0).abs() < 1e-12, "lowest frequency divided by factor");
    }

    #[test]
    fn bad_configs_are_rejected_with_the_field_named() {
        let mut c = llama3_8b();
        c.num_key_value_heads = Some(5);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("num_key_value_heads"), "{e}");
        let mut c = llama3_8b();
        c.rope_scaling = Some(RopeScaling {
            rope_type: "yarn".into(),
            factor: 2.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        });
        assert!(c.validate().unwrap_err().to_string().contains("yarn"));
    }
}

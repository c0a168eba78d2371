//! LLaMA weights resolved from a [`TensorStore`] in GGUF tensor naming (`blk.{i}.attn_q.weight`, ...).
//!
//! Projections that share an input are fused into one matrix at load when their types agree (Q|K|V and
//! gate|up, rows concatenated — vLLM's `QKVParallelLinear` / `MergedColumnParallelLinear`), so a decode
//! step runs 4 matmuls per layer instead of 7. Mixed-type checkpoints (e.g. Q4_K_M with Q6_K `attn_v`)
//! keep the parts separate. Norm weights are converted to f32 once.

use llmserve_kernels::DType;

use crate::config::LlamaConfig;
use crate::error::ModelError;
use crate::tensor::{TensorStore, WeightTensor};

const ARCH: &str = "llama";

/// Several projections of the same input whose outputs are concatenated along the feature axis.
#[derive(Clone, Debug)]
pub struct ProjectionGroup {
    /// One fused matrix, or the separate parts when their types differ. Each `[out_i, in]`.
    pub parts: Vec<WeightTensor>,
    /// Total output width (sum of the parts' rows).
    pub out_features: usize,
}

impl ProjectionGroup {
    /// Fuses `tensors` (all `[out_i, in]`) into one matrix when they share a dtype, else keeps them apart.
    fn new(fused_name: &str, tensors: Vec<WeightTensor>) -> ProjectionGroup {
        let out_features = tensors.iter().map(|t| t.rows_cols().0).sum();
        let same_type = tensors.windows(2).all(|w| w[0].dtype == w[1].dtype && w[0].rows_cols().1 == w[1].rows_cols().1);
        if tensors.len() > 1 && same_type {
            let cols = tensors[0].rows_cols().1;
            let mut bytes = Vec::with_capacity(tensors.iter().map(|t| t.bytes().len()).sum());
            for t in &tensors {
                bytes.extend_from_slice(t.bytes());
            }
            if let Ok(fused) = WeightTensor::owned(fused_name.to_string(), tensors[0].dtype, vec![out_features, cols], bytes) {
                return ProjectionGroup { parts: vec![fused], out_features };
            }
        }
        ProjectionGroup { parts: tensors, out_features }
    }
}

/// One transformer block.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    /// `[hidden]` pre-attention RMSNorm weight.
    pub attn_norm: Vec<f32>,
    /// Q | K | V projections: `[q_dim + 2·kv_dim, hidden]`.
    pub qkv: ProjectionGroup,
    /// `[hidden, q_dim]` attention output projection.
    pub attn_output: WeightTensor,
    /// `[hidden]` pre-MLP RMSNorm weight.
    pub ffn_norm: Vec<f32>,
    /// gate | up projections: `[2·intermediate, hidden]`.
    pub gate_up: ProjectionGroup,
    /// `[hidden, intermediate]` down projection.
    pub down: WeightTensor,
}

/// All weights of a LLaMA model.
#[derive(Clone, Debug)]
pub struct LlamaWeights {
    /// `[vocab, hidden]` token embeddings (rows dequantized on lookup).
    pub token_embd: WeightTensor,
    pub layers: Vec<LayerWeights>,
    /// `[hidden]` final RMSNorm weight.
    pub output_norm: Vec<f32>,
    /// `[vocab, hidden]` LM head; the embedding itself when tied.
    pub output: WeightTensor,
    /// Optional GGUF `rope_freqs.weight` `[head_dim / 2]` frequency divisors (llama3 scaling in GGUF).
    pub rope_freq_factors: Option<Vec<f32>>,
}

fn norm_vec(store: &TensorStore, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
    let t = store.require(name, ARCH)?;
    if t.num_elements() != len || t.shape.len() != 1 {
        return Err(ModelError::BadTensor {
            path: store.path.clone(),
            tensor: name.to_string(),
            reason: format!("expected shape [{len}], found {:?}", t.shape),
        });
    }
    Ok(t.to_f32())
}

impl LlamaWeights {
    /// Resolves every tensor the config needs, checking shapes; errors name the file and the tensor.
    pub fn from_store(store: &TensorStore, cfg: &LlamaConfig) -> Result<LlamaWeights, ModelError> {
        let h = cfg.hidden_size;
        let ff = cfg.intermediate_size;
        let (qd, kvd) = (cfg.q_dim(), cfg.kv_dim());
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<WeightTensor, ModelError> {
            let t = store.require_shape(name, ARCH, &[rows, cols])?.clone();
            if t.dtype.bytes_for(cols).is_none() {
                return Err(ModelError::BadTensor {
                    path: store.path.clone(),
                    tensor: name.to_string(),
                    reason: format!("row length {cols} is not whole {} blocks", t.dtype),
                });
            }
            Ok(t)
        };
        let token_embd = matrix("token_embd.weight", cfg.vocab_size, h)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("blk.{i}.");
            let q = matrix(&format!("{p}attn_q.weight"), qd, h)?;
            let k = matrix(&format!("{p}attn_k.weight"), kvd, h)?;
            let v = matrix(&format!("{p}attn_v.weight"), kvd, h)?;
            let gate = matrix(&format!("{p}ffn_gate.weight"), ff, h)?;
            let up = matrix(&format!("{p}ffn_up.weight"), ff, h)?;
            layers.push(LayerWeights {
                attn_norm: norm_vec(store, &format!("{p}attn_norm.weight"), h)?,
                qkv: ProjectionGroup::new(&format!("{p}attn_qkv.weight"), vec![q, k, v]),
                attn_output: matrix(&format!("{p}attn_output.weight"), h, qd)?,
                ffn_norm: norm_vec(store, &format!("{p}ffn_norm.weight"), h)?,
                gate_up: ProjectionGroup::new(&format!("{p}ffn_gate_up.weight"), vec![gate, up]),
                down: matrix(&format!("{p}ffn_down.weight"), h, ff)?,
            });
        }
        let output = match store.get("output.weight") {
            Some(_) if !cfg.tie_word_embeddings => matrix("output.weight", cfg.vocab_size, h)?,
            _ => token_embd.clone(),
        };
        let rope_freq_factors = match store.get("rope_freqs.weight") {
            Some(_) => Some(norm_vec(store, "rope_freqs.weight", cfg.head_dim() / 2)?),
            None => None,
        };
        Ok(LlamaWeights {
            token_embd,
            layers,
            output_norm: norm_vec(store, "output_norm.weight", h)?,
            output,
            rope_freq_factors,
        })
    }

    /// The distinct weight types used by the linear layers (for logs and benchmarks).
    pub fn linear_dtypes(&self) -> Vec<DType> {
        let mut v: Vec<DType> = self
            .layers
            .iter()
            .flat_map(|l| l.qkv.parts.iter().chain(l.gate_up.parts.iter()).chain([&l.attn_output, &l.down]))
            .map(|t| t.dtype)
            .collect();
        v.push(self.output.dtype);
        v.sort_by_key(|d| d.ggml_type_id());
        v.dedup();
        v
    }
}

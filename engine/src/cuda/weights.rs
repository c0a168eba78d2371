//! LLaMA weights in bf16 on the device.
//!
//! Read from a [`TensorStore`] in GGUF naming (any dtype: GGUF quantized types, F16/BF16/F32 from
//! safetensors or synthetic weights), dequantized to bf16 on the host one tensor at a time (rows in
//! parallel) and uploaded. Q|K|V and gate|up rows are concatenated at load into one matrix each, so
//! a layer runs 4 GEMMs. Q and K rows keep the GGUF permuted layout (HF checkpoints are permuted at
//! load by `models::model::permute_rope_rows`), which pairs with `RopeStyle::Interleaved` — the same
//! convention as the CPU backend, so both read the same `LoadedModel` and agree. Tied embeddings
//! (`tie_word_embeddings` or no `output.weight`) share the embedding buffer as the LM head.
//! Host peak memory: one tensor in f32 row scratch plus its bf16 copy.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream};
use half::bf16;
use llmserve_models::config::LlamaConfig;
use llmserve_models::tensor::{TensorStore, WeightTensor};

use super::plan::{fused_rows_bf16, tensor_to_bf16};
use super::{driver, CudaBackendError};

const ARCH: &str = "llama";

/// One transformer block on the device.
pub struct DeviceLayer {
    /// `[hidden]` pre-attention RMSNorm weight.
    pub attn_norm: CudaSlice<bf16>,
    /// `[q_dim + 2 kv_dim, hidden]` fused Q|K|V (GGUF-permuted Q/K rows).
    pub qkv: CudaSlice<bf16>,
    /// `[hidden, q_dim]` attention output projection.
    pub o: CudaSlice<bf16>,
    /// `[hidden]` pre-MLP RMSNorm weight.
    pub ffn_norm: CudaSlice<bf16>,
    /// `[2 ffn, hidden]` fused gate|up.
    pub gate_up: CudaSlice<bf16>,
    /// `[hidden, ffn]` down projection.
    pub down: CudaSlice<bf16>,
}

/// All weights on the device.
pub struct DeviceWeights {
    /// `[vocab, hidden]` token embeddings.
    pub embed: CudaSlice<bf16>,
    /// `[vocab, hidden]` LM head; `None` = tied to `embed`.
    pub lm_head: Option<CudaSlice<bf16>>,
    /// `[hidden]` final RMSNorm weight.
    pub final_norm: CudaSlice<bf16>,
    pub layers: Vec<DeviceLayer>,
    /// `[head_dim / 2]` RoPE inverse frequencies (llama3 scaling and GGUF `rope_freqs` applied).
    pub inv_freq: CudaSlice<f32>,
    /// Bytes uploaded (logs).
    pub bytes: usize,
}

fn require<'a>(store: &'a TensorStore, name: &str, shape: &[usize]) -> Result<&'a WeightTensor, CudaBackendError> {
    Ok(store.require_shape(name, ARCH, shape)?)
}

struct Uploader<'a> {
    stream: &'a Arc<CudaStream>,
    bytes: usize,
}

impl Uploader<'_> {
    fn bf16(&mut self, data: &[bf16]) -> Result<CudaSlice<bf16>, CudaBackendError> {
        self.bytes += data.len() * 2;
        self.stream.clone_htod(data).map_err(driver("uploading weights"))
    }

    fn tensor(&mut self, t: &WeightTensor) -> Result<CudaSlice<bf16>, CudaBackendError> {
        let v = tensor_to_bf16(t);
        self.bf16(&v)
    }

    fn norm(&mut self, store: &TensorStore, name: &str, len: usize) -> Result<CudaSlice<bf16>, CudaBackendError> {
        let t = store.require(name, ARCH)?;
        if t.num_elements() != len {
            return Err(CudaBackendError::Weights(format!("{name}: {} elements, expected {len}", t.num_elements())));
        }
        let v: Vec<bf16> = t.to_f32().into_iter().map(bf16::from_f32).collect();
        self.bf16(&v)
    }
}

impl DeviceWeights {
    /// Converts and uploads every tensor the config needs (errors name the tensor).
    pub fn upload(stream: &Arc<CudaStream>, store: &TensorStore, cfg: &LlamaConfig) -> Result<DeviceWeights, CudaBackendError> {
        let (h, ff, qd, kvd) = (cfg.hidden_size, cfg.intermediate_size, cfg.q_dim(), cfg.kv_dim());
        let mut up = Uploader { stream, bytes: 0 };
        let embed_t = require(store, "token_embd.weight", &[cfg.vocab_size, h])?;
        let embed = up.tensor(embed_t)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("blk.{i}.");
            let q = require(store, &format!("{p}attn_q.weight"), &[qd, h])?;
            let k = require(store, &format!("{p}attn_k.weight"), &[kvd, h])?;
            let v = require(store, &format!("{p}attn_v.weight"), &[kvd, h])?;
            let qkv = up.bf16(&fused_rows_bf16("attn_qkv", &[q, k, v])?)?;
            let gate = require(store, &format!("{p}ffn_gate.weight"), &[ff, h])?;
            let upw = require(store, &format!("{p}ffn_up.weight"), &[ff, h])?;
            let gate_up = up.bf16(&fused_rows_bf16("ffn_gate_up", &[gate, upw])?)?;
            let o = up.tensor(require(store, &format!("{p}attn_output.weight"), &[h, qd])?)?;
            let down = up.tensor(require(store, &format!("{p}ffn_down.weight"), &[h, ff])?)?;
            layers.push(DeviceLayer {
                attn_norm: up.norm(store, &format!("{p}attn_norm.weight"), h)?,
                qkv,
                o,
                ffn_norm: up.norm(store, &format!("{p}ffn_norm.weight"), h)?,
                gate_up,
                down,
            });
        }
        // Same rule as the CPU weights: an untied checkpoint's own LM head, else the embedding.
        let lm_head = match store.get("output.weight") {
            Some(_) if !cfg.tie_word_embeddings => Some(up.tensor(require(store, "output.weight", &[cfg.vocab_size, h])?)?),
            _ => None,
        };
        let factors = store.get("rope_freqs.weight").map(|t| t.to_f32());
        let inv = cfg.rope_inv_freqs(factors.as_deref());
        let inv_freq = stream.clone_htod(&inv).map_err(driver("uploading RoPE frequencies"))?;
        let final_norm = up.norm(store, "output_norm.weight", h)?;
        Ok(DeviceWeights { embed, lm_head, final_norm, layers, inv_freq, bytes: up.bytes })
    }

    /// The LM head (`[vocab, hidden]`).
    pub fn lm_head(&self) -> &CudaSlice<bf16> {
        self.lm_head.as_ref().unwrap_or(&self.embed)
    }
}

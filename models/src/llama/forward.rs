//! The batched LLaMA forward pass over a flattened variable-length batch and a paged KV cache.
//!
//! Per layer: RMSNorm → fused QKV matmul → RoPE on Q and K → write K/V to the cache → paged attention →
//! output projection + residual → RMSNorm → fused gate|up matmul → SiLU·up → down projection + residual.
//! Logits only for the rows in `AttentionMetadata::logits_indices` (the last token of each sequence
//! that finished its prompt, or every row when scoring). Matmuls run on the quantized weights
//! (activations quantized to 8 bits as llama.cpp does, or f32 with [`ActivationPrecision::F32`]).
//! All parallel work runs on the caller's rayon pool.

use llmserve_kernels::cpu::vec_ops::{rms_norm, silu_mul_inplace};
use llmserve_kernels::cpu::{matmul_prepared, ActivationPrecision, PreparedActivations};
use rayon::prelude::*;

use super::attention::{paged_attention, write_kv, FusedQkv};
use super::kv::KvCacheView;
use super::metadata::AttentionMetadata;
use super::weights::{LlamaWeights, ProjectionGroup};
use crate::config::LlamaConfig;

/// Why a forward step was refused (the caller's batch was inconsistent with the model or cache).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForwardError {
    #[error("token id {id} at batch row {row} is out of range (vocab size {vocab})")]
    TokenOutOfRange { id: u32, row: usize, vocab: usize },
    #[error("batch metadata is inconsistent: {0}")]
    BadMetadata(String),
    #[error("KV cache does not match the model: {0}")]
    CacheMismatch(String),
}

/// A loaded LLaMA model ready to run on the CPU.
pub struct LlamaModel {
    pub config: LlamaConfig,
    pub weights: LlamaWeights,
    /// `[head_dim / 2]` RoPE inverse frequencies (llama3 scaling applied).
    pub rope_inv_freqs: Vec<f32>,
    /// How matmul activations are represented.
    pub precision: MatmulPrecision,
}

/// Activation precision per matmul family.
///
/// Measured on the default model against the float64 reference (engine/tests/default_model_reference.rs):
/// 8-bit activations everywhere (llama.cpp's numerics) give logit errors of the same size as llama.cpp's
/// (0.4–1.1), most of it from the Q|K|V projection, whose errors the attention scores amplify. Keeping
/// that one projection's input in higher precision cuts the error by ~2× for ~15 % of the matmul work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulPrecision {
    /// Input of the fused Q|K|V projection.
    pub qkv: ActivationPrecision,
    /// Every other matmul (attention output, gate|up, down, LM head).
    pub other: ActivationPrecision,
}

impl MatmulPrecision {
    /// Higher precision where it matters (Q|K|V), 8-bit elsewhere. The default.
    pub const BALANCED: MatmulPrecision = MatmulPrecision { qkv: ActivationPrecision::F32, other: ActivationPrecision::Int8 };
    /// 8-bit activations everywhere, as llama.cpp.
    pub const FAST: MatmulPrecision = MatmulPrecision { qkv: ActivationPrecision::Int8, other: ActivationPrecision::Int8 };
    /// f32 activations everywhere (slow; matches the float64 reference to ~1e-4).
    pub const EXACT: MatmulPrecision = MatmulPrecision { qkv: ActivationPrecision::F32, other: ActivationPrecision::F32 };
}

/// Buffers reused across steps so a steady-state step allocates nothing.
#[derive(Default)]
pub struct ForwardScratch {
    /// `[T, hidden]` residual stream.
    x: Vec<f32>,
    /// `[T, hidden]` normed input of the current sub-block.
    xn: Vec<f32>,
    /// `[T, q_dim + 2·kv_dim]` fused Q|K|V projections.
    qkv: Vec<f32>,
    /// `[T, q_dim]` attention output.
    attn: Vec<f32>,
    /// `[T, hidden]` output of the attention / MLP projections before the residual add.
    proj: Vec<f32>,
    /// `[T, 2·intermediate]` gate|up projections.
    gate_up: Vec<f32>,
    /// `[T, intermediate]` SiLU(gate)·up.
    mlp: Vec<f32>,
    /// Staging for unfused projection parts.
    part: Vec<f32>,
    /// `[T, head_dim / 2]` RoPE cos/sin per token.
    cos: Vec<f32>,
    sin: Vec<f32>,
    act: PreparedActivations,
}

impl ForwardScratch {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Token rows per parallel task of the element-wise ops: small batches (decode) stay on the calling
/// thread instead of paying a cross-thread hand-off per op (≈10 ops per layer).
const ROWS_PER_TASK: usize = 16;

/// `x += y`, row by row.
fn add_rows(x: &mut [f32], y: &[f32], width: usize) {
    x.par_chunks_mut(width).zip(y.par_chunks(width)).with_min_len(ROWS_PER_TASK).for_each(|(x, y)| {
        for (a, b) in x.iter_mut().zip(y) {
            *a += b;
        }
    });
}

/// `out = RMSNorm(x) · weight`, row by row.
fn norm_rows(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let h = weight.len();
    out.par_chunks_mut(h).zip(x.par_chunks(h)).with_min_len(ROWS_PER_TASK).for_each(|(o, x)| rms_norm(x, weight, eps, o));
}

fn resize(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

/// Runs a projection group on prepared activations into `out [T, group.out_features]`.
fn project(group: &ProjectionGroup, act: &mut PreparedActivations, out: &mut [f32], part: &mut Vec<f32>) {
    if group.parts.len() == 1 {
        matmul_prepared(&group.parts[0].matrix(), act, out);
        return;
    }
    let m = act.m();
    let width = group.out_features;
    let mut col = 0;
    for p in &group.parts {
        let rows = p.rows_cols().0;
        resize(part, m * rows);
        matmul_prepared(&p.matrix(), act, part);
        for t in 0..m {
            out[t * width + col..t * width + col + rows].copy_from_slice(&part[t * rows..(t + 1) * rows]);
        }
        col += rows;
    }
}

/// Rotates adjacent pairs (x[2i], x[2i+1]) of every head in `row` (llama.cpp NORM mode).
fn apply_rope(row: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    for head in row.chunks_exact_mut(head_dim) {
        for (i, pair) in head.chunks_exact_mut(2).enumerate() {
            let (x0, x1) = (pair[0], pair[1]);
            pair[0] = x0 * cos[i] - x1 * sin[i];
            pair[1] = x0 * sin[i] + x1 * cos[i];
        }
    }
}

impl LlamaModel {
    pub fn new(config: LlamaConfig, weights: LlamaWeights, precision: MatmulPrecision) -> LlamaModel {
        let rope_inv_freqs = config.rope_inv_freqs(weights.rope_freq_factors.as_deref());
        LlamaModel { config, weights, rope_inv_freqs, precision }
    }

    fn check(&self, tokens: &[u32], meta: &AttentionMetadata, kv: &KvCacheView<'_>) -> Result<(), ForwardError> {
        let c = &self.config;
        let g = &kv.geometry;
        if g.num_layers != c.num_hidden_layers || g.num_kv_heads != c.num_kv_heads() || g.head_dim != c.head_dim() {
            return Err(ForwardError::CacheMismatch(format!(
                "cache has {} layers × {} kv heads × {} dims, model needs {} × {} × {}",
                g.num_layers,
                g.num_kv_heads,
                g.head_dim,
                c.num_hidden_layers,
                c.num_kv_heads(),
                c.head_dim()
            )));
        }
        if kv.k.len() != g.num_layers || kv.v.len() != g.num_layers || kv.k.iter().chain(kv.v.iter()).any(|l| l.len() != g.layer_elems()) {
            return Err(ForwardError::CacheMismatch("layer slices do not match the geometry".into()));
        }
        let n = tokens.len();
        if meta.positions.len() != n || meta.slot_mapping.len() != n {
            return Err(ForwardError::BadMetadata(format!(
                "{n} tokens but {} positions and {} slots",
                meta.positions.len(),
                meta.slot_mapping.len()
            )));
        }
        if let Some((row, &id)) = tokens.iter().enumerate().find(|(_, &id)| id as usize >= c.vocab_size) {
            return Err(ForwardError::TokenOutOfRange { id, row, vocab: c.vocab_size });
        }
        let ns = meta.seq_lens.len();
        if meta.query_start_loc.len() != ns + 1
            || meta.query_start_loc.first() != Some(&0)
            || meta.query_start_loc.last().map(|&l| l as usize) != Some(n)
            || meta.query_start_loc.windows(2).any(|w| w[0] > w[1])
            || meta.block_tables.len() != ns * meta.max_blocks_per_seq
        {
            return Err(ForwardError::BadMetadata("query_start_loc / block_tables do not describe the batch".into()));
        }
        let slots = g.num_slots();
        for s in 0..ns {
            let (a, b) = (meta.query_start_loc[s] as usize, meta.query_start_loc[s + 1] as usize);
            let len = meta.seq_lens[s] as usize;
            if len > meta.max_blocks_per_seq * g.block_size {
                return Err(ForwardError::BadMetadata(format!("sequence {s}: length {len} exceeds its block table")));
            }
            if meta.block_table(s).iter().any(|&blk| blk as usize >= g.num_blocks) {
                return Err(ForwardError::BadMetadata(format!("sequence {s}: block id beyond {} blocks", g.num_blocks)));
            }
            for t in a..b {
                if meta.positions[t] as usize >= len {
                    return Err(ForwardError::BadMetadata(format!("token {t}: position {} ≥ sequence length {len}", meta.positions[t])));
                }
                if meta.slot_mapping[t] as usize >= slots {
                    return Err(ForwardError::BadMetadata(format!("token {t}: slot {} beyond {slots} slots", meta.slot_mapping[t])));
                }
            }
        }
        if let Some(&i) = meta.logits_indices.iter().find(|&&i| i as usize >= n) {
            return Err(ForwardError::BadMetadata(format!("logits index {i} beyond {n} tokens")));
        }
        Ok(())
    }

    /// Runs one step. Writes `[logits_indices.len(), vocab]` logits into `logits`.
    pub fn forward(
        &self,
        tokens: &[u32],
        meta: &AttentionMetadata,
        kv: &mut KvCacheView<'_>,
        scratch: &mut ForwardScratch,
        logits: &mut Vec<f32>,
    ) -> Result<(), ForwardError> {
        self.check(tokens, meta, kv)?;
        let c = &self.config;
        let w = &self.weights;
        let (n, h, d) = (tokens.len(), c.hidden_size, c.head_dim());
        let (qd, kvd, ff) = (c.q_dim(), c.kv_dim(), c.intermediate_size);
        let qkv_w = qd + 2 * kvd;
        let eps = c.rms_norm_eps as f32;
        let geometry = kv.geometry;
        let s = scratch;
        resize(&mut s.x, n * h);
        resize(&mut s.xn, n * h);
        resize(&mut s.qkv, n * qkv_w);
        resize(&mut s.attn, n * qd);
        resize(&mut s.proj, n * h);
        resize(&mut s.gate_up, n * 2 * ff);
        resize(&mut s.mlp, n * ff);
        let half = d / 2;
        resize(&mut s.cos, n * half);
        resize(&mut s.sin, n * half);
        for (t, &pos) in meta.positions.iter().enumerate() {
            for i in 0..half {
                let angle = pos as f64 * self.rope_inv_freqs[i] as f64;
                s.cos[t * half + i] = angle.cos() as f32;
                s.sin[t * half + i] = angle.sin() as f32;
            }
        }
        s.x.par_chunks_mut(h).zip(tokens.par_iter()).with_min_len(ROWS_PER_TASK).for_each(|(row, &id)| w.token_embd.row_to_f32(id as usize, row));

        for (l, layer) in w.layers.iter().enumerate() {
            // Attention block.
            norm_rows(&s.x, &layer.attn_norm, eps, &mut s.xn);
            s.act.set(&s.xn, n, h, self.precision.qkv);
            project(&layer.qkv, &mut s.act, &mut s.qkv, &mut s.part);
            let (cos, sin) = (&s.cos, &s.sin);
            s.qkv.par_chunks_mut(qkv_w).enumerate().with_min_len(ROWS_PER_TASK).for_each(|(t, row)| {
                let (c_t, s_t) = (&cos[t * half..(t + 1) * half], &sin[t * half..(t + 1) * half]);
                apply_rope(&mut row[..qd + kvd], d, c_t, s_t);
            });
            let fused = FusedQkv { data: &s.qkv, num_heads: c.num_attention_heads, num_kv_heads: c.num_kv_heads(), head_dim: d };
            write_kv(&geometry, &meta.slot_mapping, fused, kv.k[l], kv.v[l]);
            paged_attention(&geometry, meta, fused, kv.k[l], kv.v[l], &mut s.attn);
            s.act.set(&s.attn, n, qd, self.precision.other);
            matmul_prepared(&layer.attn_output.matrix(), &mut s.act, &mut s.proj);
            add_rows(&mut s.x, &s.proj, h);

            // MLP block.
            norm_rows(&s.x, &layer.ffn_norm, eps, &mut s.xn);
            s.act.set(&s.xn, n, h, self.precision.other);
            project(&layer.gate_up, &mut s.act, &mut s.gate_up, &mut s.part);
            s.mlp.par_chunks_mut(ff).zip(s.gate_up.par_chunks(2 * ff)).with_min_len(ROWS_PER_TASK).for_each(|(o, gu)| {
                o.copy_from_slice(&gu[..ff]);
                silu_mul_inplace(o, &gu[ff..]);
            });
            s.act.set(&s.mlp, n, ff, self.precision.other);
            matmul_prepared(&layer.down.matrix(), &mut s.act, &mut s.proj);
            add_rows(&mut s.x, &s.proj, h);
        }

        // Final norm and LM head on the requested rows only.
        let rows = meta.logits_indices.len();
        resize(&mut s.xn, rows * h);
        for (r, &t) in meta.logits_indices.iter().enumerate() {
            rms_norm(&s.x[t as usize * h..(t as usize + 1) * h], &w.output_norm, eps, &mut s.xn[r * h..(r + 1) * h]);
        }
        // Every element is overwritten by the LM head: no need to zero it first.
        logits.resize(rows * c.vocab_size, 0.0);
        if rows > 0 {
            s.act.set(&s.xn[..rows * h], rows, h, self.precision.other);
            matmul_prepared(&w.output.matrix(), &mut s.act, logits);
        }
        Ok(())
    }
}

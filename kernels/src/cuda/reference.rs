//! CPU reference implementations of every CUDA kernel: plain loops, f32 math on the bf16 inputs, one
//! bf16 rounding per output element — the same arithmetic contract as the kernels, written to be
//! obviously right rather than fast. The device tests (`kernels/tests/cuda_kernels.rs`) compare each
//! kernel with its reference on fresh random inputs; the unit tests here check the references
//! themselves against independent formulations (dense attention vs paged, split-KV merge vs single
//! pass, rotate-half vs adjacent-pair RoPE under the GGUF permutation, sampling thresholds vs sorting).
//!
//! Element-wise and row-wise ops live here; attention in [`attention`], sampling in [`sampling`].

pub mod attention;
pub mod sampling;
#[cfg(test)]
mod tests;

use half::bf16;

use super::shapes::{AttentionGeometry, PagedCacheShape, QkvLayout, RopeStyle};

fn f(x: bf16) -> f32 {
    x.to_f32()
}

fn b(x: f32) -> bf16 {
    bf16::from_f32(x)
}

/// `out[t] = table[ids[t]]`; an id >= vocab gives a zero row. Returns whether any id was out of range
/// (the kernel's `invalid` flag).
pub fn embedding(table: &[bf16], ids: &[u32], hidden: usize, vocab: usize, out: &mut [bf16]) -> bool {
    let mut invalid = false;
    for (t, &id) in ids.iter().enumerate() {
        let dst = &mut out[t * hidden..(t + 1) * hidden];
        if (id as usize) < vocab {
            dst.copy_from_slice(&table[id as usize * hidden..(id as usize + 1) * hidden]);
        } else {
            invalid = true;
            dst.fill(bf16::ZERO);
        }
    }
    invalid
}

/// `out = x / sqrt(mean(x^2) + eps) * weight`, row by row (`x`, `out` `[rows, hidden]`).
pub fn rms_norm(x: &[bf16], weight: &[bf16], hidden: usize, eps: f32, out: &mut [bf16]) {
    for (xr, or) in x.chunks_exact(hidden).zip(out.chunks_exact_mut(hidden)) {
        let ss: f32 = xr.iter().map(|&v| f(v) * f(v)).sum();
        let inv = 1.0 / (ss / hidden as f32 + eps).sqrt();
        for ((o, &v), &w) in or.iter_mut().zip(xr).zip(weight) {
            *o = b(f(v) * inv * f(w));
        }
    }
}

/// `residual = bf16(residual + x)`, then `out = rms_norm(residual)`.
pub fn fused_add_rms_norm(residual: &mut [bf16], x: &[bf16], weight: &[bf16], hidden: usize, eps: f32, out: &mut [bf16]) {
    for (r, &v) in residual.iter_mut().zip(x) {
        *r = b(f(*r) + f(v));
    }
    rms_norm(residual, weight, hidden, eps, out);
}

/// The two dims of pair `i` of a head under `style`.
pub fn rope_pair(style: RopeStyle, head_dim: usize, i: usize) -> (usize, usize) {
    match style {
        RopeStyle::Neox => (i, i + head_dim / 2),
        RopeStyle::Interleaved => (2 * i, 2 * i + 1),
    }
}

/// Rotates the q and k heads of `qkv` in place (see rope.cu): angle = positions[t] * inv_freq[i] in f32.
pub fn rope(
    qkv: &mut [bf16],
    positions: &[u32],
    inv_freq: &[f32],
    geometry: &AttentionGeometry,
    layout: &QkvLayout,
    style: RopeStyle,
) {
    let d = geometry.head_dim;
    for (t, &pos) in positions.iter().enumerate() {
        let row = t * layout.row_stride;
        let heads = (0..geometry.num_q_heads)
            .map(|h| layout.q_offset + h * d)
            .chain((0..geometry.num_kv_heads).map(|h| layout.k_offset + h * d));
        for start in heads {
            for (i, &inv) in inv_freq.iter().enumerate().take(d / 2) {
                let angle = pos as f32 * inv;
                let (s, c) = (angle as f64).sin_cos();
                let (s, c) = (s as f32, c as f32);
                let (i0, i1) = rope_pair(style, d, i);
                let (x0, x1) = (f(qkv[row + start + i0]), f(qkv[row + start + i1]));
                qkv[row + start + i0] = b(x0 * c - x1 * s);
                qkv[row + start + i1] = b(x1 * c + x0 * s);
            }
        }
    }
}

/// Copies token `t`'s K/V row (`key[t * key_stride ..]`, `row_width` wide) to slot `slot_mapping[t]`
/// of the caches; negative or out-of-range slots are skipped.
#[allow(clippy::too_many_arguments)]
pub fn reshape_and_cache(
    k_cache: &mut [bf16],
    v_cache: &mut [bf16],
    key: &[bf16],
    value: &[bf16],
    slot_mapping: &[i32],
    cache: &PagedCacheShape,
    key_stride: usize,
    value_stride: usize,
) {
    let w = cache.row_width();
    for (t, &slot) in slot_mapping.iter().enumerate() {
        if slot < 0 || slot as usize >= cache.num_slots() {
            continue;
        }
        let s = slot as usize;
        k_cache[s * w..(s + 1) * w].copy_from_slice(&key[t * key_stride..t * key_stride + w]);
        v_cache[s * w..(s + 1) * w].copy_from_slice(&value[t * value_stride..t * value_stride + w]);
    }
}

/// `out[t, i] = silu(gate_up[t, i]) * gate_up[t, ffn + i]`.
pub fn silu_and_mul(gate_up: &[bf16], ffn: usize, out: &mut [bf16]) {
    for (gu, o) in gate_up.chunks_exact(2 * ffn).zip(out.chunks_exact_mut(ffn)) {
        for i in 0..ffn {
            let g = f(gu[i]);
            o[i] = b(g / (1.0 + (-g).exp()) * f(gu[ffn + i]));
        }
    }
}

//! GGML block quantization formats: weight layouts, reference dequantize / quantize, and the int8
//! activation formats the quantized dot products consume.
//!
//! Weight block layouts follow llama.cpp's `ggml-common.h` / `ggml-quants.c` byte for byte (little-endian,
//! packed, read unaligned from `&[u8]`):
//!
//! | type | bytes | layout                                                                   | value          |
//! |------|-------|--------------------------------------------------------------------------|----------------|
//! | Q8_0 | 34    | f16 d, 32 × i8                                                           | d·q            |
//! | Q4_0 | 18    | f16 d, 16 B nibbles (elem j low nibble of byte j, j+16 high nibble)      | d·(q−8)        |
//! | Q4_1 | 20    | f16 d, f16 m, 16 B nibbles (same order)                                  | d·q + m        |
//! | Q4_K | 144   | f16 d, f16 dmin, 12 B 6-bit scales/mins (8 × 32), 128 B nibbles          | d·sc·q − dmin·m|
//! | Q6_K | 210   | ql[128], qh[64], i8 scales[16] (16 × 16), f16 d                          | d·sc·(q−32)    |
//!
//! Activation formats are internal (never written to files) and stored structure-of-arrays so SIMD loops
//! load them directly: [`Q8Activations`] (32-element blocks; serves Q8_0 and Q8_1 at once) and
//! [`Q8KActivations`] (256-element super-blocks with 16-element sums). Rounding follows llama.cpp's x86
//! runtime quantizers (`d = amax/127`, `q = round_ties_even(x·127/amax)`, `d` and Q8_1's `s` stored as
//! f16) so our numerics match llama.cpp's.
//!
//! Complexity: everything here is O(n) in the number of elements.

use half::{bf16, f16};

use crate::DType;

/// Elements per Q8_0/Q4_0/Q4_1/Q8_1 block.
pub const QK: usize = 32;
/// Elements per K-quant super-block.
pub const QK_K: usize = 256;

#[inline]
pub(crate) fn f16_at(b: &[u8], off: usize) -> f32 {
    f16::from_le_bytes([b[off], b[off + 1]]).to_f32()
}

#[inline]
fn put_f16(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&f16::from_f32(v).to_le_bytes());
}

/// Rounds `v` to f16 precision and back (what storing a scale as f16 does).
#[inline]
pub fn round_f16(v: f32) -> f32 {
    f16::from_f32(v).to_f32()
}

/// The 6-bit scale and min of sub-block `j` (0..8) of a Q4_K super-block (`get_scale_min_k4`).
#[inline]
pub fn q4k_scale_min(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Inverse of [`q4k_scale_min`]: packs 8 six-bit scales and mins into 12 bytes.
fn q4k_pack_scales(sc: &[u8; 8], mn: &[u8; 8]) -> [u8; 12] {
    let mut q = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            q[j] |= sc[j] & 63;
            q[j + 4] |= mn[j] & 63;
        } else {
            q[j + 4] = (sc[j] & 0xF) | ((mn[j] & 0xF) << 4);
            q[j - 4] |= (sc[j] >> 4) << 6;
            q[j] |= (mn[j] >> 4) << 6;
        }
    }
    q
}

/// Dequantizes `dst.len()` elements of `dtype` stored in `src` (exactly `dtype.bytes_for(dst.len())`
/// bytes). Plain, clear code: this is also the reference the SIMD kernels are tested against.
///
/// Panics if `dst.len()` is not a whole number of blocks or `src` has the wrong length (caller bugs).
pub fn dequantize_row(dtype: DType, src: &[u8], dst: &mut [f32]) {
    let want = dtype.bytes_for(dst.len());
    assert_eq!(want, Some(src.len()), "dequantize_row: {} elements of {dtype} need {want:?} bytes, got {}", dst.len(), src.len());
    let bb = dtype.block_bytes();
    match dtype {
        DType::F32 => {
            for (o, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        DType::F16 => {
            for (o, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        DType::BF16 => {
            for (o, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *o = bf16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        DType::Q8_0 => {
            for (y, b) in dst.chunks_exact_mut(QK).zip(src.chunks_exact(bb)) {
                let d = f16_at(b, 0);
                for (o, &q) in y.iter_mut().zip(&b[2..34]) {
                    *o = d * (q as i8) as f32;
                }
            }
        }
        DType::Q4_0 => {
            for (y, b) in dst.chunks_exact_mut(QK).zip(src.chunks_exact(bb)) {
                let d = f16_at(b, 0);
                for j in 0..16 {
                    y[j] = d * ((b[2 + j] & 0xF) as i32 - 8) as f32;
                    y[j + 16] = d * ((b[2 + j] >> 4) as i32 - 8) as f32;
                }
            }
        }
        DType::Q4_1 => {
            for (y, b) in dst.chunks_exact_mut(QK).zip(src.chunks_exact(bb)) {
                let (d, m) = (f16_at(b, 0), f16_at(b, 2));
                for j in 0..16 {
                    y[j] = d * (b[4 + j] & 0xF) as f32 + m;
                    y[j + 16] = d * (b[4 + j] >> 4) as f32 + m;
                }
            }
        }
        DType::Q4K => {
            for (y, b) in dst.chunks_exact_mut(QK_K).zip(src.chunks_exact(bb)) {
                let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
                let scales = &b[4..16];
                let qs = &b[16..144];
                for j in 0..4 {
                    let (sc1, m1) = q4k_scale_min(2 * j, scales);
                    let (sc2, m2) = q4k_scale_min(2 * j + 1, scales);
                    let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
                    let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
                    for l in 0..32 {
                        let q = qs[32 * j + l];
                        y[64 * j + l] = d1 * (q & 0xF) as f32 - m1;
                        y[64 * j + 32 + l] = d2 * (q >> 4) as f32 - m2;
                    }
                }
            }
        }
        DType::Q6K => {
            for (y, b) in dst.chunks_exact_mut(QK_K).zip(src.chunks_exact(bb)) {
                let d = f16_at(b, 208);
                for n in 0..2 {
                    let ql = &b[64 * n..64 * n + 64];
                    let qh = &b[128 + 32 * n..128 + 32 * n + 32];
                    let sc = &b[192 + 8 * n..192 + 8 * n + 8];
                    let y = &mut y[128 * n..128 * n + 128];
                    for l in 0..32 {
                        let is = l / 16;
                        let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                        let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                        let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                        let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                        y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                        y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                        y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                        y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                    }
                }
            }
        }
    }
}

/// Quantizes `values` (rows of `row_len` elements, row-major) to `dtype`'s storage layout.
///
/// Q8_0/Q4_0/Q4_1 follow llama.cpp's reference quantizers; Q4_K/Q6_K use a simpler (per-sub-block
/// min/max) search than llama.cpp's `make_qkx2_quants`, producing the same layout.
pub fn quantize_rows(dtype: DType, values: &[f32], row_len: usize) -> Result<Vec<u8>, String> {
    let be = dtype.block_elems();
    if row_len == 0 || !row_len.is_multiple_of(be) {
        return Err(format!("quantize_rows: row length {row_len} is not a positive multiple of the {dtype} block size {be}"));
    }
    if !values.len().is_multiple_of(row_len) {
        return Err(format!("quantize_rows: {} values are not a whole number of rows of {row_len}", values.len()));
    }
    let bytes = dtype
        .bytes_for(values.len())
        .ok_or_else(|| format!("quantize_rows: {} values of {dtype} overflow", values.len()))?;
    let mut out = Vec::with_capacity(bytes);
    match dtype {
        DType::F32 => values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        DType::F16 => values.iter().for_each(|&v| out.extend_from_slice(&f16::from_f32(v).to_le_bytes())),
        DType::BF16 => values.iter().for_each(|&v| out.extend_from_slice(&bf16::from_f32(v).to_le_bytes())),
        DType::Q8_0 => values.chunks_exact(QK).for_each(|x| quantize_block_q8_0(x, &mut out)),
        DType::Q4_0 => values.chunks_exact(QK).for_each(|x| quantize_block_q4_0(x, &mut out)),
        DType::Q4_1 => values.chunks_exact(QK).for_each(|x| quantize_block_q4_1(x, &mut out)),
        DType::Q4K => values.chunks_exact(QK_K).for_each(|x| quantize_block_q4k(x, &mut out)),
        DType::Q6K => values.chunks_exact(QK_K).for_each(|x| quantize_block_q6k(x, &mut out)),
    }
    debug_assert_eq!(out.len(), bytes);
    Ok(out)
}

fn quantize_block_q8_0(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, d);
    out.extend(x.iter().map(|&v| (v * id).round() as i8 as u8));
}

fn quantize_block_q4_0(x: &[f32], out: &mut Vec<u8>) {
    // The signed value of largest magnitude maps to −8.
    let max = x.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, d);
    let q = |v: f32| ((v * id + 8.5) as i32).clamp(0, 15) as u8;
    out.extend((0..16).map(|j| q(x[j]) | (q(x[j + 16]) << 4)));
}

fn quantize_block_q4_1(x: &[f32], out: &mut Vec<u8>) {
    let min = x.iter().copied().fold(f32::INFINITY, f32::min);
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, d);
    put_f16(out, min);
    let q = |v: f32| (((v - min) * id + 0.5) as i32).clamp(0, 15) as u8;
    out.extend((0..16).map(|j| q(x[j]) | (q(x[j + 16]) << 4)));
}

fn quantize_block_q4k(x: &[f32], out: &mut Vec<u8>) {
    // Per 32-element sub-block: min clamped to ≤ 0 (stored as a positive "min" that is subtracted) and a
    // 4-bit step; then the 8 steps and 8 mins are quantized to 6 bits against the super-block d / dmin.
    let mut step = [0f32; 8];
    let mut neg_min = [0f32; 8];
    for (j, s) in x.chunks_exact(32).enumerate() {
        let mn = s.iter().copied().fold(0f32, f32::min);
        let mx = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        step[j] = (mx - mn) / 15.0;
        neg_min[j] = -mn;
    }
    let max_step = step.iter().copied().fold(0f32, f32::max);
    let max_min = neg_min.iter().copied().fold(0f32, f32::max);
    let d = round_f16(max_step / 63.0);
    let dmin = round_f16(max_min / 63.0);
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..8 {
        sc[j] = if d > 0.0 { (step[j] / d).round().clamp(0.0, 63.0) as u8 } else { 0 };
        mn[j] = if dmin > 0.0 { (neg_min[j] / dmin).round().clamp(0.0, 63.0) as u8 } else { 0 };
    }
    put_f16(out, d);
    put_f16(out, dmin);
    out.extend_from_slice(&q4k_pack_scales(&sc, &mn));
    let mut q = [0u8; QK_K];
    for j in 0..8 {
        let scale = d * sc[j] as f32;
        let off = dmin * mn[j] as f32;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        for l in 0..32 {
            q[32 * j + l] = ((x[32 * j + l] + off) * inv).round().clamp(0.0, 15.0) as u8;
        }
    }
    for c in 0..4 {
        out.extend((0..32).map(|l| q[64 * c + l] | (q[64 * c + 32 + l] << 4)));
    }
}

fn quantize_block_q6k(x: &[f32], out: &mut Vec<u8>) {
    // Per 16-element group: the signed value of largest magnitude maps to −32; the 16 group steps are
    // quantized to i8 against the super-block d (largest step ↦ −128 like llama.cpp).
    let mut step = [0f32; 16];
    for (g, s) in x.chunks_exact(16).enumerate() {
        let max = s.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        step[g] = max / -32.0;
    }
    let max_step = step.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
    let mut scales = [0i8; 16];
    let d;
    if max_step == 0.0 {
        d = 0.0;
    } else {
        let iscale = -128.0 / max_step;
        d = round_f16(1.0 / iscale);
        for g in 0..16 {
            scales[g] = (iscale * step[g]).round().clamp(-128.0, 127.0) as i8;
        }
    }
    let mut l = [32u8; QK_K];
    for g in 0..16 {
        let s = d * scales[g] as f32;
        if s == 0.0 {
            continue;
        }
        for i in 0..16 {
            l[16 * g + i] = ((x[16 * g + i] / s).round().clamp(-32.0, 31.0) as i32 + 32) as u8;
        }
    }
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    for n in 0..2 {
        for j in 0..32 {
            let q1 = l[128 * n + j];
            let q2 = l[128 * n + j + 32];
            let q3 = l[128 * n + j + 64];
            let q4 = l[128 * n + j + 96];
            ql[64 * n + j] = (q1 & 0xF) | ((q3 & 0xF) << 4);
            ql[64 * n + j + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4);
            qh[32 * n + j] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
        }
    }
    out.extend_from_slice(&ql);
    out.extend_from_slice(&qh);
    out.extend(scales.iter().map(|&s| s as u8));
    put_f16(out, d);
}

// ---------------------------------------------------------------------------------------------------
// Activation formats.
// ---------------------------------------------------------------------------------------------------

/// Int8 activations in 32-element blocks, `rows` rows of `k` elements. One quantization serves both
/// Q8_0 (`qs`, `d`) and Q8_1 (`qs`, `d`, `s`): the quants and scale of the two formats are identical.
#[derive(Clone, Debug, Default)]
pub struct Q8Activations {
    /// [rows, k] quants, `round_ties_even(x · 127 / amax)`.
    pub qs: Vec<i8>,
    /// [rows, k/32] block scale `amax/127`, rounded to f16 precision (llama.cpp stores it as f16).
    pub d: Vec<f32>,
    /// [rows, k/32] `d · Σq` computed exactly (f16 d × |Σq| ≤ 4064 fits f32's mantissa); used for the
    /// −8 (Q4_0) / −128 (Q8_0 via unsigned dot) offset corrections.
    pub sd: Vec<f32>,
    /// [rows, k/32] Q8_1's `s = f16(d_f32 · Σq)`, the Q4_1 min term.
    pub s: Vec<f32>,
    /// Elements per row.
    pub k: usize,
}

/// One row of [`Q8Activations`].
#[derive(Clone, Copy, Debug)]
pub struct Q8Row<'a> {
    pub qs: &'a [i8],
    pub d: &'a [f32],
    pub sd: &'a [f32],
    pub s: &'a [f32],
}

impl Q8Activations {
    /// Resizes for `rows × k` (k a multiple of 32) without shrinking capacity.
    pub fn resize(&mut self, rows: usize, k: usize) {
        assert_eq!(k % QK, 0, "Q8 activations need k % 32 == 0, got {k}");
        self.k = k;
        self.qs.resize(rows * k, 0);
        let nb = rows * k / QK;
        self.d.resize(nb, 0.0);
        self.sd.resize(nb, 0.0);
        self.s.resize(nb, 0.0);
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> Q8Row<'_> {
        let (k, nb) = (self.k, self.k / QK);
        Q8Row {
            qs: &self.qs[r * k..(r + 1) * k],
            d: &self.d[r * nb..(r + 1) * nb],
            sd: &self.sd[r * nb..(r + 1) * nb],
            s: &self.s[r * nb..(r + 1) * nb],
        }
    }
}

/// Quantizes one row `x` (len multiple of 32) into the Q8_0/Q8_1 slices (reference; the SIMD variant in
/// `simd` produces identical bits).
pub fn quantize_row_q8_reference(x: &[f32], qs: &mut [i8], d: &mut [f32], sd: &mut [f32], s: &mut [f32]) {
    for (b, xb) in x.chunks_exact(QK).enumerate() {
        let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
        let dd = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in qs[b * QK..(b + 1) * QK].iter_mut().zip(xb) {
            *q = (v * id).round_ties_even() as i8;
            sum += *q as i32;
        }
        d[b] = round_f16(dd);
        sd[b] = d[b] * sum as f32;
        s[b] = round_f16(dd * sum as f32);
    }
}

/// Int8 activations in 256-element super-blocks (llama.cpp's `block_q8_K`), `rows × k`.
#[derive(Clone, Debug, Default)]
pub struct Q8KActivations {
    /// [rows, k] quants.
    pub qs: Vec<i8>,
    /// [rows, k/256] f32 scale.
    pub d: Vec<f32>,
    /// [rows, k/16] sums of each 16 consecutive quants (for the K-quant min / offset terms).
    pub bsums: Vec<i16>,
    /// [rows, k/16] the super-block scale repeated per 16 elements (per-block scale view for the
    /// interleaved prompt kernels; filled by [`Q8KActivations::fill_block_terms`]).
    pub d16: Vec<f32>,
    /// [rows, k/16] `d · bsum` per 16 elements.
    pub c16: Vec<f32>,
    /// [rows, k/32] the super-block scale repeated per 32 elements.
    pub d32: Vec<f32>,
    /// [rows, k/32] `d · (bsum₂ⱼ + bsum₂ⱼ₊₁)` per 32 elements.
    pub c32: Vec<f32>,
    /// Elements per row.
    pub k: usize,
}

/// One row of [`Q8KActivations`].
#[derive(Clone, Copy, Debug)]
pub struct Q8KRow<'a> {
    pub qs: &'a [i8],
    pub d: &'a [f32],
    pub bsums: &'a [i16],
}

impl Q8KActivations {
    /// Resizes for `rows × k` (k a multiple of 256) without shrinking capacity.
    pub fn resize(&mut self, rows: usize, k: usize) {
        assert_eq!(k % QK_K, 0, "Q8_K activations need k % 256 == 0, got {k}");
        self.k = k;
        self.qs.resize(rows * k, 0);
        self.d.resize(rows * k / QK_K, 0.0);
        self.bsums.resize(rows * k / 16, 0);
        self.d16.resize(rows * k / 16, 0.0);
        self.c16.resize(rows * k / 16, 0.0);
        self.d32.resize(rows * k / 32, 0.0);
        self.c32.resize(rows * k / 32, 0.0);
    }

    /// Fills `d16`, `c16`, `d32`, `c32` from `d` and `bsums` (after quantization).
    pub fn fill_block_terms(&mut self) {
        for (g, &bs) in self.bsums.iter().enumerate() {
            let d = self.d[g / 16];
            self.d16[g] = d;
            self.c16[g] = d * bs as f32;
        }
        for (j, pair) in self.bsums.chunks_exact(2).enumerate() {
            let d = self.d[j / 8];
            self.d32[j] = d;
            self.c32[j] = d * (pair[0] as i32 + pair[1] as i32) as f32;
        }
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> Q8KRow<'_> {
        let k = self.k;
        Q8KRow {
            qs: &self.qs[r * k..(r + 1) * k],
            d: &self.d[r * k / QK_K..(r + 1) * k / QK_K],
            bsums: &self.bsums[r * k / 16..(r + 1) * k / 16],
        }
    }
}

/// Quantizes one row `x` (len multiple of 256) to Q8_K like llama.cpp's `quantize_row_q8_K_ref`: the
/// signed value of largest magnitude maps to −127, `q = min(127, round_ties_even(x · −127/max))`.
pub fn quantize_row_q8k(x: &[f32], qs: &mut [i8], d: &mut [f32], bsums: &mut [i16]) {
    for (b, xb) in x.chunks_exact(QK_K).enumerate() {
        let max = xb.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        let q = &mut qs[b * QK_K..(b + 1) * QK_K];
        if max == 0.0 {
            d[b] = 0.0;
            q.fill(0);
            bsums[b * 16..(b + 1) * 16].fill(0);
            continue;
        }
        let iscale = -127.0 / max;
        for (o, &v) in q.iter_mut().zip(xb) {
            *o = ((iscale * v).round_ties_even() as i32).min(127) as i8;
        }
        for (g, bs) in bsums[b * 16..(b + 1) * 16].iter_mut().enumerate() {
            *bs = q[16 * g..16 * g + 16].iter().map(|&v| v as i16).sum();
        }
        d[b] = 1.0 / iscale;
    }
}

#[cfg(test)]
mod tests;

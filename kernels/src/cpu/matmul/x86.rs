//! x86-64 matmul tasks (AVX2 / AVX-512 VNNI): task dispatch, SIMD Q8 activation quantization, and the
//! f32 tile path.
//!
//! A task covers `rows × toks`. With one token it runs the row dots of `dot.rs` (memory bound), or for
//! f32 activations on block weights a fused dequantize-dot (`Σ_b d_b·Σ q·x + c_b·Σ x`, the per-block
//! sums of x computed once per task). With more tokens, int8 plans go to the interleaved 8-row tiles
//! of `tile32.rs`; f32 plans (dense weights, or any weight at `ActivationPrecision::F32`) dequantize
//! (SIMD) 4-row tiles into the thread's scratch and run a
//! 4 rows × 3 tokens FMA micro-kernel over them (each weight vector load serves 3 tokens, each
//! activation load 4 rows; 12 accumulators fit AVX2's 16 registers). The Q8 quantizer reproduces
//! `quantize_row_q8_reference` bit for bit (same `127/amax` product, round-half-even, f16 scales).

use std::arch::x86_64::*;
use std::ops::Range;

use super::tile32::{self, TileActs};
use super::{OutPtr, Plan, Scratch, ROW_TILE};
use crate::cpu::dot::x86::{avx2 as rows_avx2, avx512 as rows_avx512, *};
use crate::cpu::dot;
use crate::cpu::quant::{Q8KRow, Q8Row, QK};
use crate::cpu::simd::Isa;
use crate::cpu::WeightMatrix;
use crate::DType;

/// Q8_0/Q8_1 quantization of one row, bit-identical to `quantize_row_q8_reference`.
///
/// # Safety
/// AVX2+FMA+F16C; `qs.len() == x.len()`, `d`, `sd`, `s` have `x.len()/32` entries.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn quantize_row_q8(x: &[f32], qs: &mut [i8], d: &mut [f32], sd: &mut [f32], s: &mut [f32]) {
    let sign = _mm256_set1_ps(-0.0);
    let perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for b in 0..x.len() / QK {
        // SAFETY: block b's 32 floats / 32 bytes lie within `x` / `qs`.
        unsafe {
            let px = x.as_ptr().add(QK * b);
            let v = [_mm256_loadu_ps(px), _mm256_loadu_ps(px.add(8)), _mm256_loadu_ps(px.add(16)), _mm256_loadu_ps(px.add(24))];
            let a = _mm256_max_ps(
                _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])),
            );
            let a = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
            let a = _mm_max_ps(a, _mm_movehl_ps(a, a));
            let amax = _mm_cvtss_f32(_mm_max_ss(a, _mm_movehdup_ps(a)));
            let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
            let q: [__m256i; 4] = std::array::from_fn(|i| {
                _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
            });
            let sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            let sum = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
            let sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0b01_00_11_10));
            let sum = _mm_cvtsi128_si32(_mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0b10_11_00_01)));
            let packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256(qs.as_mut_ptr().add(QK * b) as *mut __m256i, _mm256_permutevar8x32_epi32(packed, perm));
            let dd = amax / 127.0;
            d[b] = round_f16_f16c(dd);
            sd[b] = d[b] * sum as f32;
            s[b] = round_f16_f16c(dd * sum as f32);
        }
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn round_f16_f16c(v: f32) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(v), _MM_FROUND_TO_NEAREST_INT)))
}

/// Runs one task on an x86 path.
///
/// # Safety
/// `path` ≥ Avx2 and supported by the CPU; `rows ⊆ 0..w.rows`, `toks ⊆ 0..m`; the task owns
/// `out[toks, rows]`; `plan` matches `w.dtype` and was prepared for `m` tokens of `w.cols`.
pub(super) unsafe fn run_task(path: Isa, w: &WeightMatrix, plan: Plan, rows: Range<usize>, toks: Range<usize>, dst: OutPtr, s: &mut Scratch) {
    if toks.len() == 1 {
        // SAFETY: forwarded from the caller.
        return unsafe { gemv(path, w, plan, rows, toks.start, dst, s) };
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match (plan, path) {
            (Plan::Q8(a), Isa::Avx512) => tile32::vnni::task(w, TileActs::Q8(a), rows, toks, dst, s),
            (Plan::Q8(a), _) => tile32::avx2::task(w, TileActs::Q8(a), rows, toks, dst, s),
            (Plan::Q8K(a), Isa::Avx512) => tile32::vnni::task(w, TileActs::Q8K(a), rows, toks, dst, s),
            (Plan::Q8K(a), _) => tile32::avx2::task(w, TileActs::Q8K(a), rows, toks, dst, s),
            (Plan::F32(x), _) => task_f32(w, x, rows, toks, dst, s),
        }
    }
}

/// One token: row dots over `rows`, the kernel chosen once per task (no per-row dispatch or checks).
///
/// # Safety
/// As [`run_task`], with `toks = t..t+1`.
unsafe fn gemv(path: Isa, w: &WeightMatrix, plan: Plan, rows: Range<usize>, t: usize, dst: OutPtr, s: &mut Scratch) {
    type Q8Dot = unsafe fn(&[u8], Q8Row) -> f32;
    type Q8KDot = unsafe fn(&[u8], Q8KRow) -> f32;
    let wide = path >= Isa::Avx512;
    // SAFETY: the CPU supports `path` (caller); the row and activation shapes were checked once in
    // `matmul_prepared_with` (k == w.cols, data length), which is what the row kernels need; the task
    // owns out[t, rows].
    unsafe {
        match plan {
            Plan::Q8(a) => {
                let f: Q8Dot = match (w.dtype, wide) {
                    (DType::Q8_0, false) => rows_avx2::dot_q8_0,
                    (DType::Q8_0, true) => rows_avx512::dot_q8_0,
                    (DType::Q4_0, false) => rows_avx2::dot_q4_0,
                    (DType::Q4_0, true) => rows_avx512::dot_q4_0,
                    (_, false) => rows_avx2::dot_q4_1,
                    (_, true) => rows_avx512::dot_q4_1,
                };
                let ar = a.row(t);
                for r in rows {
                    dst.write(t, r, f(w.row(r), ar));
                }
            }
            Plan::Q8K(a) => {
                let f: Q8KDot = match (w.dtype, wide) {
                    (DType::Q4K, false) => rows_avx2::dot_q4k,
                    (DType::Q4K, true) => rows_avx512::dot_q4k,
                    (_, false) => rows_avx2::dot_q6k,
                    (_, true) => rows_avx512::dot_q6k,
                };
                let ar = a.row(t);
                for r in rows {
                    dst.write(t, r, f(w.row(r), ar));
                }
            }
            Plan::F32(x) if w.dtype.is_quantized() => {
                let x = &x[t * w.cols..(t + 1) * w.cols];
                // One instantiation per type so the block decoder's `match` folds away.
                match w.dtype {
                    DType::Q8_0 => gemv_f32_blocks::<Q8_0>(w, x, rows, t, dst, s),
                    DType::Q4_0 => gemv_f32_blocks::<Q4_0>(w, x, rows, t, dst, s),
                    DType::Q4_1 => gemv_f32_blocks::<Q4_1>(w, x, rows, t, dst, s),
                    DType::Q4K => gemv_f32_blocks::<Q4K>(w, x, rows, t, dst, s),
                    _ => gemv_f32_blocks::<Q6K>(w, x, rows, t, dst, s),
                }
            }
            Plan::F32(x) => {
                let x = &x[t * w.cols..(t + 1) * w.cols];
                for r in rows {
                    let row = w.row(r);
                    let v = match w.dtype {
                        DType::F16 => dot::dot_f16_row(path, row, x),
                        DType::BF16 => dot::dot_bf16_row(path, row, x),
                        _ => dot::dot_f32_row(path, row, x),
                    };
                    dst.write(t, r, v);
                }
            }
        }
    }
}

// Const-generic tags for the block types (a `DType` cannot be a const parameter on stable).
const Q8_0: u8 = 0;
const Q4_0: u8 = 1;
const Q4_1: u8 = 2;
const Q4K: u8 = 3;
const Q6K: u8 = 4;

#[inline(always)]
const fn dtype_of(tag: u8) -> DType {
    match tag {
        Q8_0 => DType::Q8_0,
        Q4_0 => DType::Q4_0,
        Q4_1 => DType::Q4_1,
        Q4K => DType::Q4K,
        _ => DType::Q6K,
    }
}

/// 32 quants (u8, or i8 when `signed`) → 4 × 8 f32 in element order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn widen32(v: __m256i, signed: bool) -> [__m256; 4] {
    let (lo, hi) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let parts = [lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)];
    parts.map(|p| _mm256_cvtepi32_ps(if signed { _mm256_cvtepi8_epi32(p) } else { _mm256_cvtepu8_epi32(p) }))
}

/// Block `b` of a row as 4 × 8 f32 quants `q` with `(d, c)` per scale block (element = d·q + c).
///
/// # Safety
/// AVX2+FMA+F16C; `row` points at a whole row of `dtype_of(T)` with more than `b` blocks of 32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn block_f32<const T: u8>(row: *const u8, b: usize, d: &mut [f32; 2], c: &mut [f32; 2]) -> [__m256; 4] {
    // SAFETY: reads stay inside block b per the caller.
    unsafe {
        match T {
            Q4_0 | Q4_1 => {
                // Widen the 16 nibble bytes straight from memory: bytes 0..8 → elements 0..8 (low
                // nibbles) and 16..24 (high), bytes 8..16 → 8..16 and 24..32.
                let (blk, qs) = if T == Q4_0 { (row.add(18 * b), 2) } else { (row.add(20 * b), 4) };
                d[0] = load_f16(blk);
                c[0] = if T == Q4_0 { -8.0 * d[0] } else { load_f16(blk.add(2)) };
                let v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(blk.add(qs) as *const __m128i));
                let v1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(blk.add(qs + 8) as *const __m128i));
                let m = _mm256_set1_epi32(0x0F);
                [
                    _mm256_cvtepi32_ps(_mm256_and_si256(v0, m)),
                    _mm256_cvtepi32_ps(_mm256_and_si256(v1, m)),
                    _mm256_cvtepi32_ps(_mm256_srli_epi32(v0, 4)),
                    _mm256_cvtepi32_ps(_mm256_srli_epi32(v1, 4)),
                ]
            }
            _ => widen32(tile32::load_block(dtype_of(T), row, b, true, d, c), T == Q8_0),
        }
    }
}

/// One token, f32 activations, block-quantized weights: per row `Σ_b d_b·Σ q·x + c_b·Σ x` with the
/// per-16 sums of x computed once per task (element value = d·q + c, see `tile32::load_block`).
///
/// # Safety
/// AVX2+FMA+F16C; `x` is the token's k values; rows in bounds; the task owns out[t, rows].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemv_f32_blocks<const T: u8>(w: &WeightMatrix, x: &[f32], rows: Range<usize>, t: usize, dst: OutPtr, s: &mut Scratch) {
    let nb = w.cols / QK;
    let halves = T == Q6K;
    // [k/16] sums of 16 consecutive x.
    s.f.clear();
    s.f.extend(x.chunks_exact(16).map(|c| c.iter().sum::<f32>()));
    let xs = s.f.as_ptr();
    for r in rows {
        let row = w.row(r).as_ptr();
        // SAFETY: block b of the row exists (k = w.cols, whole blocks); x has 32 values at 32b and xs
        // two sums at 2b.
        let block = |b: usize, acc: &mut __m256, corr: &mut f32| unsafe {
            let (mut d, mut c) = ([0f32; 2], [0f32; 2]);
            let q = block_f32::<T>(row, b, &mut d, &mut c);
            let px = x.as_ptr().add(QK * b);
            let lo = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(px.add(8)), _mm256_mul_ps(q[0], _mm256_loadu_ps(px)));
            let hi = _mm256_fmadd_ps(q[3], _mm256_loadu_ps(px.add(24)), _mm256_mul_ps(q[2], _mm256_loadu_ps(px.add(16))));
            let (xs0, xs1) = (*xs.add(2 * b), *xs.add(2 * b + 1));
            if halves {
                *acc = _mm256_fmadd_ps(lo, _mm256_set1_ps(d[0]), *acc);
                *acc = _mm256_fmadd_ps(hi, _mm256_set1_ps(d[1]), *acc);
                *corr += c[0] * xs0 + c[1] * xs1;
            } else {
                *acc = _mm256_fmadd_ps(_mm256_add_ps(lo, hi), _mm256_set1_ps(d[0]), *acc);
                *corr += c[0] * (xs0 + xs1);
            }
        };
        // Two accumulators each (even / odd blocks) so no sum is one latency-bound chain.
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let (mut corr0, mut corr1) = (0f32, 0f32);
        let mut b = 0;
        while b + 2 <= nb {
            block(b, &mut acc0, &mut corr0);
            block(b + 1, &mut acc1, &mut corr1);
            b += 2;
        }
        if b < nb {
            block(b, &mut acc0, &mut corr0);
        }
        // SAFETY: the task owns out[t, r].
        unsafe { dst.write(t, r, hsum_ps(_mm256_add_ps(acc0, acc1)) + corr0 + corr1) };
    }
}

/// Dequantizes (or widens) rows `r0..r0+4` into `s.f` [4][k], zero-padded.
///
/// # Safety
/// AVX2+FMA+F16C; `r0 < w.rows`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn repack_f32(w: &WeightMatrix, r0: usize, s: &mut Scratch) {
    let k = w.cols;
    s.f.resize(ROW_TILE * k, 0.0);
    for r in 0..ROW_TILE {
        let f = &mut s.f[r * k..(r + 1) * k];
        if r0 + r >= w.rows {
            f.fill(0.0);
            continue;
        }
        let row = w.row(r0 + r);
        match w.dtype {
            DType::F16 => {
                let mut i = 0;
                while i + 8 <= k {
                    // SAFETY: elements i..i+8 exist in the row (2 bytes each) and in f.
                    unsafe {
                        let v = _mm256_cvtph_ps(_mm_loadu_si128(row.as_ptr().add(2 * i) as *const __m128i));
                        _mm256_storeu_ps(f.as_mut_ptr().add(i), v);
                    }
                    i += 8;
                }
                for j in i..k {
                    f[j] = f16_to_f32(u16::from_le_bytes([row[2 * j], row[2 * j + 1]]));
                }
            }
            DType::BF16 => {
                let mut i = 0;
                while i + 8 <= k {
                    // SAFETY: elements i..i+8 exist in the row (2 bytes each) and in f.
                    unsafe {
                        let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(row.as_ptr().add(2 * i) as *const __m128i));
                        _mm256_storeu_ps(f.as_mut_ptr().add(i), _mm256_castsi256_ps(_mm256_slli_epi32(h, 16)));
                    }
                    i += 8;
                }
                crate::cpu::quant::dequantize_row(DType::BF16, &row[2 * i..], &mut f[i..]);
            }
            DType::F32 => crate::cpu::quant::dequantize_row(DType::F32, row, f),
            _ => {
                let signed = w.dtype == DType::Q8_0;
                for b in 0..k / QK {
                    let (mut d, mut c) = ([0f32; 2], [0f32; 2]);
                    // SAFETY: block b of the row exists; f has 32 values at 32b.
                    unsafe {
                        let q = widen32(tile32::load_block(w.dtype, row.as_ptr(), b, true, &mut d, &mut c), signed);
                        for (i, qi) in q.iter().enumerate() {
                            let h = if w.dtype == DType::Q6K { i / 2 } else { 0 };
                            let v = _mm256_fmadd_ps(*qi, _mm256_set1_ps(d[h]), _mm256_set1_ps(c[h]));
                            _mm256_storeu_ps(f.as_mut_ptr().add(QK * b + 8 * i), v);
                        }
                    }
                }
            }
        }
    }
}

/// 4 rows × C tokens of f32 dots over the dequantized tile.
///
/// # Safety
/// AVX2+FMA; tokens t0..t0+C exist in `x` (k each); the scratch holds 4 rows of k f32.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn micro_f32<const C: usize>(s: &Scratch, k: usize, x: &[f32], t0: usize, r0: usize, n: usize, dst: OutPtr) {
    let mut acc = [[_mm256_setzero_ps(); C]; ROW_TILE];
    let k8 = k / 8 * 8;
    // SAFETY: indices < k within each row / token.
    unsafe {
        let px = x.as_ptr().add(t0 * k);
        let pw = s.f.as_ptr();
        let mut i = 0;
        while i < k8 {
            for (r, acc) in acc.iter_mut().enumerate() {
                let wv = _mm256_loadu_ps(pw.add(r * k + i));
                for (c, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(wv, _mm256_loadu_ps(px.add(c * k + i)), *a);
                }
            }
            i += 8;
        }
        for (r, acc) in acc.iter().enumerate().take(n.saturating_sub(r0).min(ROW_TILE)) {
            for (c, a) in acc.iter().enumerate() {
                let mut v = hsum_ps(*a);
                for j in k8..k {
                    v += *pw.add(r * k + j) * *px.add(c * k + j);
                }
                dst.write(t0 + c, r0 + r, v);
            }
        }
    }
}

/// A task with f32 activations (dense weights, or quantized weights at `ActivationPrecision::F32`).
///
/// # Safety
/// AVX2+FMA+F16C; see [`run_task`].
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn task_f32(w: &WeightMatrix, x: &[f32], rows: Range<usize>, toks: Range<usize>, dst: OutPtr, s: &mut Scratch) {
    for r0 in rows.step_by(ROW_TILE) {
        // SAFETY: in bounds per the caller's contract.
        unsafe {
            repack_f32(w, r0, s);
            let mut t0 = toks.start;
            while t0 < toks.end {
                match toks.end - t0 {
                    1 => micro_f32::<1>(s, w.cols, x, t0, r0, w.rows, dst),
                    2 => micro_f32::<2>(s, w.cols, x, t0, r0, w.rows, dst),
                    _ => micro_f32::<3>(s, w.cols, x, t0, r0, w.rows, dst),
                }
                t0 += 3;
            }
        }
    }
}

//! x86-64 matmul tasks (AVX2 / AVX-512 VNNI): task dispatch, SIMD Q8 activation quantization, and the
//! f32 tile path.
//!
//! A task covers `rows × toks`. With one token it runs the row dots of `dot.rs` (memory bound). With
//! more, int8 plans go to the interleaved 8-row tiles of `tile32.rs`; f32 plans (dense weights, or any
//! weight at `ActivationPrecision::F32`) dequantize 4-row tiles into the thread's scratch and run a
//! 4 rows × 3 tokens FMA micro-kernel over them (each weight vector load serves 3 tokens, each
//! activation load 4 rows; 12 accumulators fit AVX2's 16 registers). The Q8 quantizer reproduces
//! `quantize_row_q8_reference` bit for bit (same `127/amax` product, round-half-even, f16 scales).

use std::arch::x86_64::*;
use std::ops::Range;

use super::tile32::{self, TileActs};
use super::{OutPtr, Plan, Scratch, ROW_TILE};
use crate::cpu::dot::{self, x86::*};
use crate::cpu::quant::QK;
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
        let t = toks.start;
        for r in rows {
            let row = w.row(r);
            let v = match plan {
                Plan::Q8(a) => match w.dtype {
                    DType::Q8_0 => dot::dot_q8_0(path, row, a.row(t)),
                    DType::Q4_0 => dot::dot_q4_0(path, row, a.row(t)),
                    _ => dot::dot_q4_1(path, row, a.row(t)),
                },
                Plan::Q8K(a) => match w.dtype {
                    DType::Q4K => dot::dot_q4k(path, row, a.row(t)),
                    _ => dot::dot_q6k(path, row, a.row(t)),
                },
                Plan::F32(x) => {
                    let x = &x[t * w.cols..(t + 1) * w.cols];
                    match w.dtype {
                        DType::F32 => dot::dot_f32_row(path, row, x),
                        DType::F16 => dot::dot_f16_row(path, row, x),
                        DType::BF16 => dot::dot_bf16_row(path, row, x),
                        _ => {
                            s.f.resize(w.cols, 0.0);
                            crate::cpu::quant::dequantize_row(w.dtype, row, &mut s.f);
                            crate::cpu::vec_ops::dot_f32_with(path, &s.f, x)
                        }
                    }
                }
            };
            // SAFETY: the task owns out[t, r].
            unsafe { dst.write(t, r, v) };
        }
        return;
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

/// Dequantizes (or widens) rows `r0..r0+4` into `s.f` [4][k], zero-padded.
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
            _ => crate::cpu::quant::dequantize_row(w.dtype, row, f),
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

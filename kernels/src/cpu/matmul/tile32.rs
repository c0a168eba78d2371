//! Prompt-processing micro-kernels for the 32-element block types (Q8_0 / Q4_0 / Q4_1 weights × Q8_0 /
//! Q8_1 activations), x86-64.
//!
//! A tile of 8 weight rows is repacked once per task into an interleaved layout — per block, 8 groups of
//! 4 elements, each group stored as 8 rows × 4 bytes = one 256-bit vector — the same idea as llama.cpp's
//! `block_q4_0x8` repacking for its AVX2/AVX-512 GEMM, in our own layout. In the inner loop a 4-byte
//! activation group is broadcast to all lanes, so one `u8·i8 → i32` dot (AVX2 `vpmaddubsw`+`vpmaddwd`,
//! or one AVX-512 VNNI `vpdpbusd`) advances 8 rows × 4 elements, and each i32 lane belongs to one weight
//! row: the block's int→f32 conversion and scale FMA serve 8 rows at once and the results are stored
//! without horizontal sums. Each weight vector is reused by C tokens (4 with AVX2's 16 registers, 8 with
//! AVX-512's 32).
//!
//! The offset terms (Q4_0's −8, Q4_1's min, the +128 of unsigned Q8_0 under VNNI) are one more f32 FMA
//! per block and token against the activations' `d·Σq` (or Q8_1 `s`). With AVX2 Q8_0 keeps its sign and
//! uses the sign trick (|w| · sign(w)·a) since an offset u8 operand could saturate `vpmaddubsw`.

use std::arch::x86_64::*;
use std::ops::Range;

use super::{OutPtr, Scratch};
use crate::cpu::dot::x86::{load_f16, udot_avx2, udot_vnni, unpack_nibbles16};
use crate::cpu::quant::{q4k_scale_min, Q8Activations, Q8KActivations, QK};
use crate::cpu::WeightMatrix;
use crate::DType;

/// Weight rows per repacked tile (= i32 lanes of a 256-bit vector).
pub(super) const ROWS: usize = 8;

/// 8×8 transpose of 32-bit lanes: `out[g].lane[r] = v[r].lane[g]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn transpose8(v: &[__m256i; 8]) -> [__m256i; 8] {
    let t: [__m256i; 8] = std::array::from_fn(|i| {
        let (a, b) = (v[2 * (i / 2)], v[2 * (i / 2) + 1]);
        if i % 2 == 0 { _mm256_unpacklo_epi32(a, b) } else { _mm256_unpackhi_epi32(a, b) }
    });
    // u[j] for rows 0..4 (j < 4) and rows 4..8 (j ≥ 4): group (j%4) in the low half, (j%4)+4 high.
    let u: [__m256i; 8] = std::array::from_fn(|j| {
        let base = 4 * (j / 4);
        let (x, y) = if j % 4 < 2 { (t[base], t[base + 2]) } else { (t[base + 1], t[base + 3]) };
        if j % 2 == 0 { _mm256_unpacklo_epi64(x, y) } else { _mm256_unpackhi_epi64(x, y) }
    });
    std::array::from_fn(|g| {
        let (lo, hi) = (u[g % 4], u[g % 4 + 4]);
        if g < 4 { _mm256_permute2x128_si256(lo, hi, 0x20) } else { _mm256_permute2x128_si256(lo, hi, 0x31) }
    })
}

/// Exact `vpdpbusd` semantics on AVX2 (no saturation), for testing the VNNI kernel structure on
/// machines without AVX-512.
#[cfg(test)]
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn udot_exact(acc: __m256i, a_u8: __m256i, b_i8: __m256i) -> __m256i {
    let pairs = |a: __m128i, b: __m128i| _mm256_madd_epi16(_mm256_cvtepu8_epi16(a), _mm256_cvtepi8_epi16(b));
    let lo = pairs(_mm256_castsi256_si128(a_u8), _mm256_castsi256_si128(b_i8));
    let hi = pairs(_mm256_extracti128_si256(a_u8, 1), _mm256_extracti128_si256(b_i8, 1));
    let quads = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(lo, hi), _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7));
    _mm256_add_epi32(acc, quads)
}

/// Shape, activations and destination of one task's micro-kernel calls.
#[derive(Clone, Copy)]
struct Ctx {
    /// Columns of W (= k).
    k: usize,
    /// Rows of W (= n, the row stride of out).
    n: usize,
    /// [m, k] activation quants.
    qs: *const i8,
    /// [m, nbl] per-scale-block activation scale (Q8 `d`, or the Q8_K `d` repeated per 32 / 16).
    scale: *const f32,
    /// [m, nbl] per-scale-block activation term multiplied by the repacked correction (`d·Σq`, Q8_1
    /// `s`, or Q8_K `d·bsum`).
    corr: *const f32,
    /// Scale blocks per activation row (k/32, or k/16 for Q6_K).
    nbl: usize,
    dst: OutPtr,
}

/// The activation view a weight type's tiles use.
pub(super) enum TileActs<'a> {
    Q8(&'a Q8Activations),
    Q8K(&'a Q8KActivations),
}

/// Stores the 8 lanes of `v` to `out[t, r0..r0+8]`, only the rows below `n`.
///
/// # Safety
/// AVX; `t < m`, `r0 < n`; the task owns those elements.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn store_rows(dst: OutPtr, t: usize, r0: usize, n: usize, v: __m256) {
    // SAFETY: the row range written is clipped to n; ownership per the caller.
    unsafe {
        if r0 + ROWS <= n {
            _mm256_storeu_ps(dst.ptr.add(t * dst.n + r0), v);
        } else {
            let mut tmp = [0f32; ROWS];
            _mm256_storeu_ps(tmp.as_mut_ptr(), v);
            for (r, &x) in tmp.iter().enumerate().take(n - r0) {
                dst.write(t, r0 + r, x);
            }
        }
    }
}

/// Loads 32-element block `b` of row `row` (a pointer to the row's bytes) as 32 u8/i8 values and
/// writes its per-scale-block weight scales / correction coefficients (one entry, or two for Q6_K's
/// 16-element halves) to `d` / `c`, such that element `i` is worth `d[h]·q[i] + c[h]` (`h = i / 16`
/// for Q6_K, else 0). The quants are unsigned except Q8_0 with `signed_q8`.
///
/// # Safety
/// AVX2+F16C; `row` points at a whole row of `dtype` with more than `b` blocks of 32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn load_block(dtype: DType, row: *const u8, b: usize, signed_q8: bool, d: &mut [f32; 2], c: &mut [f32; 2]) -> __m256i {
    // SAFETY: every read stays inside block b's bytes (or its super-block's) per the caller.
    unsafe {
        match dtype {
            DType::Q4_0 => {
                let blk = row.add(18 * b);
                d[0] = load_f16(blk);
                c[0] = -8.0 * d[0];
                unpack_nibbles16(blk.add(2))
            }
            DType::Q4_1 => {
                let blk = row.add(20 * b);
                d[0] = load_f16(blk);
                c[0] = load_f16(blk.add(2));
                unpack_nibbles16(blk.add(4))
            }
            DType::Q8_0 => {
                let blk = row.add(34 * b);
                d[0] = load_f16(blk);
                let q = _mm256_loadu_si256(blk.add(2) as *const __m256i);
                if signed_q8 {
                    c[0] = 0.0;
                    q
                } else {
                    c[0] = -128.0 * d[0];
                    _mm256_xor_si256(q, _mm256_set1_epi8(-128))
                }
            }
            DType::Q4K => {
                let (sb, j) = (b / 8, b % 8);
                let blk = row.add(144 * sb);
                let (sc, m) = q4k_scale_min(j, std::slice::from_raw_parts(blk.add(4), 12));
                d[0] = load_f16(blk) * sc as f32;
                c[0] = -load_f16(blk.add(2)) * m as f32;
                let q = _mm256_loadu_si256(blk.add(16 + 32 * (j / 2)) as *const __m256i);
                let q = if j % 2 == 0 { q } else { _mm256_srli_epi16(q, 4) };
                _mm256_and_si256(q, _mm256_set1_epi8(0x0F))
            }
            _ => {
                // Q6_K: 32 elements = quarter (j % 4) of half (j / 4) of the super-block.
                let (sb, j) = (b / 8, b % 8);
                let blk = row.add(210 * sb);
                let (half, quarter) = (j / 4, j % 4);
                let dd = load_f16(blk.add(208));
                for h in 0..2 {
                    d[h] = dd * (*blk.add(192 + 2 * j + h) as i8) as f32;
                    c[h] = -32.0 * d[h];
                }
                let ql = _mm256_loadu_si256(blk.add(64 * half + 32 * (quarter & 1)) as *const __m256i);
                let ql = if quarter < 2 { ql } else { _mm256_srli_epi16(ql, 4) };
                let qh = _mm256_loadu_si256(blk.add(128 + 32 * half) as *const __m256i);
                let qh = match quarter {
                    0 => qh,
                    1 => _mm256_srli_epi16(qh, 2),
                    2 => _mm256_srli_epi16(qh, 4),
                    _ => _mm256_srli_epi16(qh, 6),
                };
                let hi = _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(3)), 4);
                _mm256_or_si256(_mm256_and_si256(ql, _mm256_set1_epi8(0x0F)), hi)
            }
        }
    }
}

macro_rules! tile32 {
    ($feat:literal, $udot:ident, $signed_q8:expr, $cmax:expr) => {
        use super::*;

        /// Token tile of the micro-kernel.
        pub(in crate::cpu::matmul) const CMAX: usize = $cmax;

        /// Repacks rows `r0..r0+8` (zero past `w.rows`) into `s.q` [k/32][8 groups][8 rows][4 B] and
        /// `s.d` / `s.c` [k/32][H][8] scales / correction coefficients (H = 2 for Q6_K's halves, else 1).
        ///
        /// # Safety
        /// CPU supports `$feat`; `r0 < w.rows`; `w.dtype` is block-quantized.
        #[target_feature(enable = $feat)]
        unsafe fn repack(w: &WeightMatrix, r0: usize, s: &mut Scratch) {
            let nb = w.cols / QK;
            let halves = if w.dtype == DType::Q6K { 2 } else { 1 };
            s.q.resize(nb * QK * ROWS, 0);
            s.d.resize(nb * halves * ROWS, 0.0);
            s.c.resize(nb * halves * ROWS, 0.0);
            let live = ROWS.min(w.rows - r0);
            for b in 0..nb {
                let mut v = [_mm256_setzero_si256(); ROWS];
                for r in 0..ROWS {
                    let (mut d, mut c) = ([0f32; 2], [0f32; 2]);
                    if r < live {
                        // SAFETY: row r0+r exists and has nb blocks of 32.
                        v[r] = unsafe { load_block(w.dtype, w.row(r0 + r).as_ptr(), b, $signed_q8, &mut d, &mut c) };
                    }
                    for h in 0..halves {
                        s.d[(halves * b + h) * ROWS + r] = d[h];
                        s.c[(halves * b + h) * ROWS + r] = c[h];
                    }
                }
                let t = transpose8(&v);
                for (g, tg) in t.iter().enumerate() {
                    // SAFETY: 32 bytes at (8b + g)·32 lie inside s.q (nb·256 bytes).
                    unsafe { _mm256_storeu_si256(s.q.as_mut_ptr().add(QK * (ROWS * b + g)) as *mut __m256i, *tg) };
                }
            }
        }

        /// 8 rows (`r0..`) × C tokens (`t0..`) over the repacked tile. `HALVES`: two scale blocks of 16
        /// per 32 elements (Q6_K).
        ///
        /// # Safety
        /// CPU supports `$feat`; `s` holds the repacked tile of rows `r0..` for `x.k` columns; tokens
        /// `t0..t0+C` exist in `x`'s activations; the caller owns `out[t0..t0+C, r0..r0+8 ∩ 0..n]`.
        #[target_feature(enable = $feat)]
        unsafe fn micro<const C: usize, const SIGNED: bool, const HALVES: bool>(s: &Scratch, x: Ctx, t0: usize, r0: usize) {
            let (k, nb, nbl) = (x.k, x.k / QK, x.nbl);
            let h = if HALVES { 2 } else { 1 };
            let mut acc = [_mm256_setzero_ps(); C];
            // SAFETY: tokens t0..t0+C exist (k quants, nbl scale terms each); the scratch holds nb
            // repacked blocks; the task owns out[t0..t0+C, r0..r0+8 ∩ 0..n].
            unsafe {
                let qa = x.qs.add(t0 * k);
                let sa = x.scale.add(t0 * nbl);
                let ca = x.corr.add(t0 * nbl);
                for b in 0..nb {
                    let wb = s.q.as_ptr().add(QK * ROWS * b);
                    for half in 0..h {
                        let groups = if HALVES { 4 * half..4 * half + 4 } else { 0..8 };
                        let mut iacc = [_mm256_setzero_si256(); C];
                        for g in groups {
                            let wv = _mm256_loadu_si256(wb.add(QK * g) as *const __m256i);
                            let wu = if SIGNED { _mm256_sign_epi8(wv, wv) } else { wv };
                            for (c, ia) in iacc.iter_mut().enumerate() {
                                let av = _mm256_set1_epi32((qa.add(c * k + QK * b + 4 * g) as *const i32).read_unaligned());
                                let av = if SIGNED { _mm256_sign_epi8(av, wv) } else { av };
                                *ia = $udot(*ia, wu, av);
                            }
                        }
                        let sbk = h * b + half;
                        let dw = _mm256_loadu_ps(s.d.as_ptr().add(ROWS * sbk));
                        let cw = _mm256_loadu_ps(s.c.as_ptr().add(ROWS * sbk));
                        for (c, (ac, ia)) in acc.iter_mut().zip(&iacc).enumerate() {
                            let scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(&*sa.add(c * nbl + sbk)));
                            *ac = _mm256_fmadd_ps(_mm256_cvtepi32_ps(*ia), scale, *ac);
                            *ac = _mm256_fmadd_ps(cw, _mm256_broadcast_ss(&*ca.add(c * nbl + sbk)), *ac);
                        }
                    }
                }
                for (c, ac) in acc.iter().enumerate() {
                    store_rows(x.dst, t0 + c, r0, x.n, *ac);
                }
            }
        }

        /// [`micro`] with the run-time flags turned into const generics.
        ///
        /// # Safety
        /// As [`micro`].
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn pass<const C: usize>(signed: bool, halves: bool, s: &Scratch, x: Ctx, t0: usize, r0: usize) {
            // SAFETY: forwarded from `task`.
            unsafe {
                match (signed, halves) {
                    (true, _) => micro::<C, true, false>(s, x, t0, r0),
                    (false, false) => micro::<C, false, false>(s, x, t0, r0),
                    (false, true) => micro::<C, false, true>(s, x, t0, r0),
                }
            }
        }

        /// A task over block-quantized weights with int8 activations: `out[toks, rows]`.
        ///
        /// # Safety
        /// CPU supports `$feat`; rows/toks in bounds; the task owns `out[toks, rows]`; `acts` holds the
        /// activations of all tokens for `w.cols` in the form `w.dtype` needs.
        #[target_feature(enable = $feat)]
        pub(in crate::cpu::matmul) unsafe fn task(w: &WeightMatrix, acts: TileActs, rows: Range<usize>, toks: Range<usize>, dst: OutPtr, s: &mut Scratch) {
            let signed = $signed_q8 && w.dtype == DType::Q8_0;
            let halves = w.dtype == DType::Q6K;
            let (k, n) = (w.cols, w.rows);
            let x = match acts {
                TileActs::Q8(a) => {
                    let corr = if w.dtype == DType::Q4_1 { a.s.as_ptr() } else { a.sd.as_ptr() };
                    Ctx { k, n, qs: a.qs.as_ptr(), scale: a.d.as_ptr(), corr, nbl: k / QK, dst }
                }
                TileActs::Q8K(a) if halves => Ctx { k, n, qs: a.qs.as_ptr(), scale: a.d16.as_ptr(), corr: a.c16.as_ptr(), nbl: k / 16, dst },
                TileActs::Q8K(a) => Ctx { k, n, qs: a.qs.as_ptr(), scale: a.d32.as_ptr(), corr: a.c32.as_ptr(), nbl: k / QK, dst },
            };
            for r0 in rows.step_by(ROWS) {
                // SAFETY: tiles and token ranges are in bounds per the caller's contract.
                unsafe {
                    repack(w, r0, s);
                    let mut t0 = toks.start;
                    while t0 < toks.end {
                        let c = (toks.end - t0).min(CMAX);
                        match c {
                            1 => pass::<1>(signed, halves, s, x, t0, r0),
                            2 => pass::<2>(signed, halves, s, x, t0, r0),
                            3 => pass::<3>(signed, halves, s, x, t0, r0),
                            4 => pass::<4>(signed, halves, s, x, t0, r0),
                            5 => pass::<5>(signed, halves, s, x, t0, r0),
                            6 => pass::<6>(signed, halves, s, x, t0, r0),
                            7 => pass::<7>(signed, halves, s, x, t0, r0),
                            _ => pass::<8>(signed, halves, s, x, t0, r0),
                        }
                        t0 += c;
                    }
                }
            }
        }
    };
}

/// AVX2: `vpmaddubsw`-based dot, 4 tokens per pass, Q8_0 via the sign trick.
pub(super) mod avx2 {
    tile32!("avx2,fma,f16c", udot_avx2, true, 4);
}

/// AVX-512 VNNI: `vpdpbusd` on 256-bit vectors, 8 tokens per pass, Q8_0 offset to unsigned.
pub(super) mod vnni {
    tile32!("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni", udot_vnni, false, 8);
}

/// The VNNI kernel's exact structure (unsigned Q8_0, 8-token passes) with `vpdpbusd` emulated in
/// AVX2, so tests cover it on any AVX2 machine.
#[cfg(test)]
pub(super) mod vnni_emulated {
    tile32!("avx2,fma,f16c", udot_exact, false, 8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::matmul::{matmul_prepared_with, ActivationPrecision, PreparedActivations};
    use crate::cpu::simd::{detected_isa, Isa};
    use half::f16;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Random raw blocks (every quant byte pattern, Q8_0's −128 included) with sane f16 scales.
    fn random_weights(rng: &mut ChaCha8Rng, dtype: DType, n: usize, k: usize) -> Vec<u8> {
        let bb = dtype.block_bytes();
        let mut data: Vec<u8> = (0..n * dtype.bytes_for(k).unwrap()).map(|_| rng.gen()).collect();
        let mut put = |blk: &mut [u8], off: usize, range: f32| {
            blk[off..off + 2].copy_from_slice(&f16::from_f32(rng.gen_range(-range..range)).to_le_bytes());
        };
        for blk in data.chunks_exact_mut(bb) {
            match dtype {
                DType::Q6K => put(blk, 208, 0.01),
                DType::Q4K => {
                    put(blk, 0, 0.01);
                    put(blk, 2, 0.01);
                }
                DType::Q4_1 => {
                    put(blk, 0, 0.05);
                    put(blk, 2, 0.2);
                }
                _ => put(blk, 0, 0.05),
            }
        }
        data
    }

    #[test]
    fn transpose8_moves_lane_g_of_row_r_to_lane_r_of_group_g() {
        if detected_isa() < Isa::Avx2 {
            eprintln!("skipping: no AVX2");
            return;
        }
        // SAFETY: AVX2 detected above.
        unsafe {
            let v: [__m256i; 8] = std::array::from_fn(|r| _mm256_setr_epi32(8 * r as i32, 8 * r as i32 + 1, 8 * r as i32 + 2, 8 * r as i32 + 3, 8 * r as i32 + 4, 8 * r as i32 + 5, 8 * r as i32 + 6, 8 * r as i32 + 7));
            let t = transpose8(&v);
            for (g, tg) in t.iter().enumerate() {
                let mut lanes = [0i32; 8];
                _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, *tg);
                assert_eq!(lanes, std::array::from_fn(|r| (8 * r + g) as i32), "group {g}");
            }
        }
    }

    #[test]
    fn avx2_and_emulated_vnni_tiles_match_portable_for_every_block_type() {
        if detected_isa() < Isa::Avx2 {
            eprintln!("skipping: no AVX2");
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        for dtype in [DType::Q4_0, DType::Q4_1, DType::Q8_0, DType::Q4K, DType::Q6K] {
            let (n, k) = (21, if dtype.block_elems() == 256 { 512 } else { 96 });
            let data = random_weights(&mut rng, dtype, n, k);
            let w = WeightMatrix { dtype, rows: n, cols: k, data: &data };
            for m in [2, 3, 5, 8, 9, 17] {
                let x: Vec<f32> = (0..m * k).map(|_| rng.gen_range(-2.0f32..2.0)).collect();
                let mut act = PreparedActivations::new();
                act.set(&x, m, k, ActivationPrecision::Int8);
                let mut want = vec![0f32; m * n];
                matmul_prepared_with(Isa::Portable, &w, &mut act, &mut want);
                let scale: f32 = want.iter().map(|v| v.abs()).sum::<f32>() / want.len() as f32 + 1e-3;
                let acts = || if dtype.block_elems() == 256 { TileActs::Q8K(&act.q8k) } else { TileActs::Q8(&act.q8) };
                type Task = unsafe fn(&WeightMatrix, TileActs, Range<usize>, Range<usize>, OutPtr, &mut Scratch);
                let kernels: [(&str, Task); 2] = [("avx2", avx2::task), ("vnni-emulated", vnni_emulated::task)];
                for (name, task) in kernels {
                    let mut got = vec![f32::NAN; m * n];
                    let dst = OutPtr { ptr: got.as_mut_ptr(), n };
                    // SAFETY: AVX2 detected; whole ranges; `got` is exclusively ours.
                    unsafe { task(&w, acts(), 0..n, 0..m, dst, &mut Scratch::default()) };
                    for i in 0..m * n {
                        assert!((got[i] - want[i]).abs() <= 2e-5 * scale, "{dtype} {name} m={m} element {i}: {} vs {}", got[i], want[i]);
                    }
                }
            }
        }
    }
}

//! x86-64 SIMD row dots: AVX2 (`vpmaddubsw` + `vpmaddwd`) and AVX-512 VNNI (`vpdpbusd` on 256-bit
//! vectors). One kernel body per type, instantiated twice by `row_dots!`: the two instantiations differ
//! only in the `u8 × i8 → i32` primitive ([`udot_avx2`] / [`udot_vnni`], which compute the same i32
//! lanes whenever `vpmaddubsw` cannot saturate — true for every use here: |pair sum| ≤ 2·128·127).
//!
//! Structure follows llama.cpp's `ggml_vec_dot_*` AVX2 kernels (nibble unpacking, sign trick for
//! signed×signed, per-block scale FMA); the code is our own. O(k) per call.

use std::arch::x86_64::*;

use super::{Isa, Q8KRow, Q8Row, QK, QK_K};
use crate::cpu::quant::q4k_scale_min;

/// Horizontal sum of 8 f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// f16 bits → f32 with F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn f16_to_f32(bits: u16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// Reads the little-endian f16 at `p` and widens it.
///
/// # Safety
/// `p` must be valid for reading 2 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn load_f16(p: *const u8) -> f32 {
    // SAFETY: caller guarantees 2 readable bytes; read_unaligned has no alignment requirement.
    f16_to_f32(u16::from_le(unsafe { (p as *const u16).read_unaligned() }))
}

/// 16 packed nibble bytes → 32 bytes: low nibbles (elements 0..16) then high nibbles (16..32).
///
/// # Safety
/// `p` must be valid for reading 16 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn unpack_nibbles16(p: *const u8) -> __m256i {
    // SAFETY: caller guarantees 16 readable bytes; loadu is unaligned.
    let q = _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(p as *const __m128i) });
    // Low half keeps the low nibbles, high half shifts the high nibbles down: one shift, one mask.
    let q = _mm256_srlv_epi32(q, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
    _mm256_and_si256(q, _mm256_set1_epi8(0x0F))
}

/// Σ of 4 adjacent `u8·i8` products per i32 lane, added to `acc` (AVX2).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn udot_avx2(acc: __m256i, a_u8: __m256i, b_i8: __m256i) -> __m256i {
    let p16 = _mm256_maddubs_epi16(a_u8, b_i8);
    _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)))
}

/// Same lanes as [`udot_avx2`] with one AVX-512 VNNI instruction (no intermediate saturation).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) fn udot_vnni(acc: __m256i, a_u8: __m256i, b_i8: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(acc, a_u8, b_i8)
}

/// Σ over blocks of `p·scale` from `block(b) = (p, scale, extra)`, plus Σ `extra` (a 4-lane side term,
/// e.g. Q4_1's `[d·d_a, m·s]`), each with two independent accumulators (unrolled by 2) so neither sum
/// is a single latency-bound chain.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sum_blocks<const EXTRA: bool>(nb: usize, mut block: impl FnMut(usize) -> (__m256, __m256, __m128)) -> (f32, __m128) {
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let (mut ex0, mut ex1) = (_mm_setzero_ps(), _mm_setzero_ps());
    let mut b = 0;
    while b + 2 <= nb {
        let (p0, s0, e0) = block(b);
        let (p1, s1, e1) = block(b + 1);
        acc0 = _mm256_fmadd_ps(p0, s0, acc0);
        acc1 = _mm256_fmadd_ps(p1, s1, acc1);
        if EXTRA {
            ex0 = _mm_add_ps(ex0, e0);
            ex1 = _mm_add_ps(ex1, e1);
        }
        b += 2;
    }
    if b < nb {
        let (p0, s0, e0) = block(b);
        acc0 = _mm256_fmadd_ps(p0, s0, acc0);
        if EXTRA {
            ex0 = _mm_add_ps(ex0, e0);
        }
    }
    (hsum_ps(_mm256_add_ps(acc0, acc1)), _mm_add_ps(ex0, ex1))
}

macro_rules! row_dots {
    ($feat:literal, $udot:ident) => {
        use super::*;

        /// # Safety
        /// CPU supports `$feat`; `w` holds `a.d.len()` Q8_0 blocks; `a` is consistent.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn dot_q8_0(w: &[u8], a: Q8Row) -> f32 {
            // SAFETY: block b < nb lies within `w` (34·nb bytes), `a.qs` (32·nb) and `a.d` (nb).
            let block = |b: usize| unsafe {
                let blk = w.as_ptr().add(34 * b);
                let qw = _mm256_loadu_si256(blk.add(2) as *const __m256i);
                let qa = _mm256_loadu_si256(a.qs.as_ptr().add(QK * b) as *const __m256i);
                // Sign trick: |w| · (a · sign(w)) is an unsigned × signed product.
                let p = $udot(_mm256_setzero_si256(), _mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qa, qw));
                (_mm256_cvtepi32_ps(p), _mm256_set1_ps(load_f16(blk) * *a.d.get_unchecked(b)), _mm_setzero_ps())
            };
            sum_blocks::<false>(a.d.len(), block).0
        }

        /// # Safety
        /// As [`dot_q8_0`], with Q4_0 blocks.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn dot_q4_0(w: &[u8], a: Q8Row) -> f32 {
            // SAFETY: block b < nb lies within `w` (18·nb bytes) and the activation arrays.
            let block = |b: usize| unsafe {
                let blk = w.as_ptr().add(18 * b);
                let qw = unpack_nibbles16(blk.add(2));
                let qa = _mm256_loadu_si256(a.qs.as_ptr().add(QK * b) as *const __m256i);
                let p = $udot(_mm256_setzero_si256(), qw, qa);
                // [d_w, d_w] · [d_a, d_a·Σa]: lane 0 the block scale, lane 1 the −8 offset term
                // (Σ (q−8)·a = Σ q·a − 8·Σ a; sd = d_a·Σa exactly).
                let dw = _mm_cvtph_ps(_mm_set1_epi16((blk as *const i16).read_unaligned()));
                let ds = _mm_unpacklo_ps(_mm_load_ss(a.d.as_ptr().add(b)), _mm_load_ss(a.sd.as_ptr().add(b)));
                let prod = _mm_mul_ps(dw, ds);
                (_mm256_cvtepi32_ps(p), _mm256_broadcastss_ps(prod), prod)
            };
            let (s, ex) = sum_blocks::<true>(a.d.len(), block);
            s - 8.0 * _mm_cvtss_f32(_mm_movehdup_ps(ex))
        }

        /// # Safety
        /// As [`dot_q8_0`], with Q4_1 blocks.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn dot_q4_1(w: &[u8], a: Q8Row) -> f32 {
            // SAFETY: block b < nb lies within `w` (20·nb bytes) and the activation arrays.
            let block = |b: usize| unsafe {
                let blk = w.as_ptr().add(20 * b);
                // [d, m] · [d_a, s_a]: lane 0 is the block scale, lane 1 the min term.
                let dm = _mm_cvtph_ps(_mm_cvtsi32_si128((blk as *const i32).read_unaligned()));
                let ds = _mm_unpacklo_ps(_mm_load_ss(a.d.as_ptr().add(b)), _mm_load_ss(a.s.as_ptr().add(b)));
                let prod = _mm_mul_ps(dm, ds);
                let qw = unpack_nibbles16(blk.add(4));
                let qa = _mm256_loadu_si256(a.qs.as_ptr().add(QK * b) as *const __m256i);
                let p = $udot(_mm256_setzero_si256(), qw, qa);
                (_mm256_cvtepi32_ps(p), _mm256_broadcastss_ps(prod), prod)
            };
            let (s, ex) = sum_blocks::<true>(a.d.len(), block);
            s + _mm_cvtss_f32(_mm_movehdup_ps(ex))
        }

        /// # Safety
        /// As [`dot_q8_0`], with Q4_K blocks and Q8_K activations.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn dot_q4k(w: &[u8], a: Q8KRow) -> f32 {
            let mut acc = _mm256_setzero_ps();
            let mut mins = 0f32;
            let low = _mm256_set1_epi8(0x0F);
            for b in 0..a.d.len() {
                let blk = &w[144 * b..144 * b + 144];
                let da = a.d[b];
                // SAFETY: `blk` has 144 bytes.
                let (d, dmin) = unsafe { (load_f16(blk.as_ptr()) * da, load_f16(blk.as_ptr().add(2)) * da) };
                let bs = &a.bsums[16 * b..16 * b + 16];
                let mut sc = [0i16; 8];
                let mut summ = 0i32;
                for j in 0..8 {
                    let (s, m) = q4k_scale_min(j, &blk[4..16]);
                    sc[j] = s as i16;
                    summ += m as i32 * (bs[2 * j] as i32 + bs[2 * j + 1] as i32);
                }
                mins += dmin * summ as f32;
                let mut sumi = _mm256_setzero_si256();
                for j in 0..4 {
                    // SAFETY: chunk j's 32 bytes lie in `blk`; activations 64j..64j+64 lie in `a.qs`.
                    unsafe {
                        let q = _mm256_loadu_si256(blk.as_ptr().add(16 + 32 * j) as *const __m256i);
                        let pa = a.qs.as_ptr().add(QK_K * b + 64 * j);
                        let lo = _mm256_maddubs_epi16(_mm256_and_si256(q, low), _mm256_loadu_si256(pa as *const __m256i));
                        let hi = _mm256_maddubs_epi16(
                            _mm256_and_si256(_mm256_srli_epi16(q, 4), low),
                            _mm256_loadu_si256(pa.add(32) as *const __m256i),
                        );
                        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(lo, _mm256_set1_epi16(sc[2 * j])));
                        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(hi, _mm256_set1_epi16(sc[2 * j + 1])));
                    }
                }
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
            }
            hsum_ps(acc) - mins
        }

        /// # Safety
        /// As [`dot_q8_0`], with Q6_K blocks and Q8_K activations.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn dot_q6k(w: &[u8], a: Q8KRow) -> f32 {
            let mut acc = _mm256_setzero_ps();
            let low = _mm256_set1_epi8(0x0F);
            let two = _mm256_set1_epi8(0x03);
            for b in 0..a.d.len() {
                let blk = &w[210 * b..210 * b + 210];
                // SAFETY: all pointers below stay within the 210-byte block, the 256 activation quants
                // of super-block b and its 16 bsums.
                unsafe {
                    let p = blk.as_ptr();
                    let d = load_f16(p.add(208)) * a.d[b];
                    let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(p.add(192) as *const __m128i));
                    let bs16 = _mm256_loadu_si256(a.bsums.as_ptr().add(16 * b) as *const __m256i);
                    // Σ (q−32)·a·sc = Σ q·a·sc − 32·Σ_g sc_g·bsum_g.
                    let mut sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(sc16, bs16), 5));
                    let sc: &[i8] = std::slice::from_raw_parts(p.add(192) as *const i8, 16);
                    for n in 0..2 {
                        let ql0 = _mm256_loadu_si256(p.add(64 * n) as *const __m256i);
                        let ql1 = _mm256_loadu_si256(p.add(64 * n + 32) as *const __m256i);
                        let qh = _mm256_loadu_si256(p.add(128 + 32 * n) as *const __m256i);
                        let h0 = _mm256_slli_epi16(_mm256_and_si256(qh, two), 4);
                        let h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4);
                        let h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4);
                        let h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4);
                        let q = [
                            _mm256_or_si256(_mm256_and_si256(ql0, low), h0),
                            _mm256_or_si256(_mm256_and_si256(ql1, low), h1),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low), h2),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low), h3),
                        ];
                        for (k, &qk) in q.iter().enumerate() {
                            let g = 8 * n + 2 * k;
                            let pa = a.qs.as_ptr().add(QK_K * b + 128 * n + 32 * k);
                            let prod = _mm256_maddubs_epi16(qk, _mm256_loadu_si256(pa as *const __m256i));
                            let scv = _mm256_set_m128i(_mm_set1_epi16(sc[g + 1] as i16), _mm_set1_epi16(sc[g] as i16));
                            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(prod, scv));
                        }
                    }
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
                }
            }
            hsum_ps(acc)
        }
    };
}

pub(crate) mod avx2 {
    row_dots!("avx2,fma,f16c", udot_avx2);
}

pub(crate) mod avx512 {
    row_dots!("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni", udot_vnni);
}

macro_rules! dispatch {
    ($name:ident, $row:ty) => {
        /// # Safety
        /// `path` ≥ Avx2 and the CPU supports it; shapes checked by the caller.
        pub(super) unsafe fn $name(path: Isa, w: &[u8], a: $row) -> f32 {
            // SAFETY: forwarded from the caller (feature presence and shapes).
            unsafe {
                if path >= Isa::Avx512 {
                    avx512::$name(w, a)
                } else {
                    avx2::$name(w, a)
                }
            }
        }
    };
}

dispatch!(dot_q8_0, Q8Row);
dispatch!(dot_q4_0, Q8Row);
dispatch!(dot_q4_1, Q8Row);
dispatch!(dot_q4k, Q8KRow);
dispatch!(dot_q6k, Q8KRow);

/// # Safety
/// AVX2+FMA; `w.len() == 4 * x.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f32_bytes(w: &[u8], x: &[f32]) -> f32 {
    let n = x.len();
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= n {
        for (u, acc) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8u + 8 ≤ n; `w` holds 4n bytes.
            unsafe {
                let wv = _mm256_loadu_ps(w.as_ptr().add(4 * (i + 8 * u)) as *const f32);
                *acc = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x.as_ptr().add(i + 8 * u)), *acc);
            }
        }
        i += 16;
    }
    let mut s = hsum_ps(_mm256_add_ps(acc[0], acc[1]));
    for j in i..n {
        s += f32::from_le_bytes([w[4 * j], w[4 * j + 1], w[4 * j + 2], w[4 * j + 3]]) * x[j];
    }
    s
}

/// # Safety
/// AVX2+FMA+F16C; `w.len() == 2 * x.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_bytes(w: &[u8], x: &[f32]) -> f32 {
    let n = x.len();
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= n {
        for (u, acc) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8u + 8 ≤ n; `w` holds 2n bytes.
            unsafe {
                let wv = _mm256_cvtph_ps(_mm_loadu_si128(w.as_ptr().add(2 * (i + 8 * u)) as *const __m128i));
                *acc = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x.as_ptr().add(i + 8 * u)), *acc);
            }
        }
        i += 16;
    }
    let mut s = hsum_ps(_mm256_add_ps(acc[0], acc[1]));
    for j in i..n {
        s += f16_to_f32(u16::from_le_bytes([w[2 * j], w[2 * j + 1]])) * x[j];
    }
    s
}

/// # Safety
/// AVX2+FMA; `w.len() == 2 * x.len()`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_bf16_bytes(w: &[u8], x: &[f32]) -> f32 {
    let n = x.len();
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    while i + 16 <= n {
        for (u, acc) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8u + 8 ≤ n; `w` holds 2n bytes.
            unsafe {
                let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(w.as_ptr().add(2 * (i + 8 * u)) as *const __m128i));
                let wv = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
                *acc = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x.as_ptr().add(i + 8 * u)), *acc);
            }
        }
        i += 16;
    }
    let mut s = hsum_ps(_mm256_add_ps(acc[0], acc[1]));
    for j in i..n {
        s += f32::from_bits((u16::from_le_bytes([w[2 * j], w[2 * j + 1]]) as u32) << 16) * x[j];
    }
    s
}

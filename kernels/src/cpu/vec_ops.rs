//! f32 vector helpers for the LLaMA forward: dot, axpy, scale, RMSNorm, SwiGLU's `silu(gate)·up`, and
//! softmax.
//!
//! Numerics follow llama.cpp's CPU ops (`ggml_vec_dot_f32`, `ggml_compute_forward_rms_norm_f32`,
//! `ggml_vec_swiglu_f32`, `ggml_soft_max`): f32 throughout, the RMSNorm sum of squares accumulated in f64
//! like ggml's `ggml_float`. `dot_f32`, `axpy_f32` and `silu_mul_inplace` have AVX2+FMA paths; the
//! AVX-512 path uses the same 256-bit code (these ops are load/store bound, and Zen 4 splits 512-bit
//! vectors into 256-bit halves anyway). Every function is O(n).

use super::simd::{isa, Isa};

/// Σ a[i]·b[i]. Panics if the lengths differ.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    dot_f32_with(isa(), a, b)
}

/// [`dot_f32`] on an explicit path.
pub fn dot_f32_with(path: Isa, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f32: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: `path` ≥ Avx2 is only reachable when AVX2+FMA were detected (see `simd::isa`).
        return unsafe { x86::dot_f32(a, b) };
    }
    let _ = path;
    dot_f32_reference(a, b)
}

/// Plain reference for [`dot_f32`]: 8 independent partial sums (like a SIMD lane layout).
pub fn dot_f32_reference(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let n8 = a.len() / 8 * 8;
    for (ca, cb) in a[..n8].chunks_exact(8).zip(b[..n8].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] = ca[l].mul_add(cb[l], acc[l]);
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in n8..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// y[i] += alpha·x[i]. Panics if the lengths differ.
pub fn axpy_f32(alpha: f32, x: &[f32], y: &mut [f32]) {
    axpy_f32_with(isa(), alpha, x, y)
}

/// [`axpy_f32`] on an explicit path.
pub fn axpy_f32_with(path: Isa, alpha: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy_f32: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: AVX2+FMA detected (path ≥ Avx2).
        return unsafe { x86::axpy_f32(alpha, x, y) };
    }
    let _ = path;
    axpy_f32_reference(alpha, x, y)
}

/// Reference for [`axpy_f32`].
pub fn axpy_f32_reference(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = alpha.mul_add(xi, *yi);
    }
}

/// x[i] *= s.
pub fn scale_f32(x: &mut [f32], s: f32) {
    x.iter_mut().for_each(|v| *v *= s);
}

/// out = x / sqrt(mean(x²) + eps) · weight. Panics if the lengths differ.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    assert!(x.len() == weight.len() && x.len() == out.len(), "rms_norm: length mismatch");
    let sum: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
    let mean = (sum / x.len().max(1) as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// gate[i] = silu(gate[i]) · up[i], silu(x) = x / (1 + e^−x). Panics if the lengths differ.
pub fn silu_mul_inplace(gate: &mut [f32], up: &[f32]) {
    silu_mul_inplace_with(isa(), gate, up)
}

/// [`silu_mul_inplace`] on an explicit path.
pub fn silu_mul_inplace_with(path: Isa, gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "silu_mul_inplace: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: AVX2+FMA detected (path ≥ Avx2).
        return unsafe { x86::silu_mul(gate, up) };
    }
    let _ = path;
    silu_mul_inplace_reference(gate, up)
}

/// Reference for [`silu_mul_inplace`] (libm `exp`).
pub fn silu_mul_inplace_reference(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// Numerically stable softmax in place (subtracts the max; all −inf input gives all zeros).
pub fn softmax_inplace(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        x.fill(0.0);
        return;
    }
    let mut sum = 0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    x.iter_mut().for_each(|v| *v *= inv);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// # Safety
    /// Requires AVX2+FMA; `a.len() == b.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (u, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8u + 8 ≤ n for both slices (equal lengths); unaligned loads.
                *acc = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8 * u)), _mm256_loadu_ps(pb.add(i + 8 * u)), *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 ≤ n.
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc[0]);
            i += 8;
        }
        let mut s = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
        for j in i..n {
            s += a[j] * b[j];
        }
        s
    }

    /// # Safety
    /// Requires AVX2+FMA; `x.len() == y.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn axpy_f32(alpha: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len();
        let va = _mm256_set1_ps(alpha);
        let (px, py) = (x.as_ptr(), y.as_mut_ptr());
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 ≤ n for both slices.
            let r = _mm256_fmadd_ps(va, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i)));
            _mm256_storeu_ps(py.add(i), r);
            i += 8;
        }
        for j in i..n {
            y[j] = alpha.mul_add(x[j], y[j]);
        }
    }

    /// e^x for 8 lanes: Cody–Waite range reduction x = n·ln2 + r, degree-6 polynomial for e^r
    /// (rel. error ≈ 2e-7), inputs clamped to [−87.3, 88.7].
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn exp256(x: __m256) -> __m256 {
        let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3)), _mm256_set1_ps(88.7));
        let n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_145_75), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428_606_8e-6), r);
        let mut p = _mm256_set1_ps(1.0 / 720.0);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0 / 120.0));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0 / 24.0));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0 / 6.0));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0));
        // 2^n via the exponent field; n ∈ [−126, 128] after the clamp, so build it in two halves.
        let ni = _mm256_cvtps_epi32(n);
        let h = _mm256_srai_epi32(ni, 1);
        let pow_h = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, _mm256_set1_epi32(127)), 23));
        let pow_l = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), _mm256_set1_epi32(127)), 23));
        _mm256_mul_ps(_mm256_mul_ps(p, pow_h), pow_l)
    }

    /// # Safety
    /// Requires AVX2+FMA; `gate.len() == up.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn silu_mul(gate: &mut [f32], up: &[f32]) {
        let n = gate.len();
        let (pg, pu) = (gate.as_mut_ptr(), up.as_ptr());
        let one = _mm256_set1_ps(1.0);
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 ≤ n for both slices.
            let g = _mm256_loadu_ps(pg.add(i));
            let e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
            let s = _mm256_div_ps(g, _mm256_add_ps(one, e));
            _mm256_storeu_ps(pg.add(i), _mm256_mul_ps(s, _mm256_loadu_ps(pu.add(i))));
            i += 8;
        }
        for j in i..n {
            gate[j] = gate[j] / (1.0 + (-gate[j]).exp()) * up[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::simd::available_isas;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand_vec(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
    }

    #[test]
    fn dot_and_axpy_match_reference_on_every_path() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in [0, 1, 7, 8, 31, 33, 576, 1001] {
            let a = rand_vec(&mut rng, n, 2.0);
            let b = rand_vec(&mut rng, n, 2.0);
            let want = dot_f32_reference(&a, &b);
            let mag: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            for path in available_isas() {
                let got = dot_f32_with(path, &a, &b);
                assert!((got - want).abs() <= 1e-5 * mag + 1e-6, "dot {path:?} n={n}: {got} vs {want}");
                let mut y1 = b.clone();
                let mut y2 = b.clone();
                axpy_f32_with(path, 0.37, &a, &mut y1);
                axpy_f32_reference(0.37, &a, &mut y2);
                assert_eq!(y1, y2, "axpy {path:?} n={n}");
            }
        }
    }

    #[test]
    fn silu_mul_matches_reference_on_every_path() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for n in [1, 9, 64, 1536, 1543] {
            let mut g = rand_vec(&mut rng, n, 12.0);
            g[0] = -100.0; // saturated tail
            let u = rand_vec(&mut rng, n, 3.0);
            let mut want = g.clone();
            silu_mul_inplace_reference(&mut want, &u);
            for path in available_isas() {
                let mut got = g.clone();
                silu_mul_inplace_with(path, &mut got, &u);
                for i in 0..n {
                    let tol = 2e-6 * want[i].abs() + 1e-7;
                    assert!((got[i] - want[i]).abs() <= tol, "{path:?} i={i}: {} vs {}", got[i], want[i]);
                }
            }
        }
    }

    #[test]
    fn rms_norm_scale_and_softmax() {
        let x = [1.0f32, -2.0, 3.0, -4.0];
        let w = [1.0f32, 0.5, 2.0, 1.0];
        let mut out = [0f32; 4];
        rms_norm(&x, &w, 1e-5, &mut out);
        let r = (30.0f32 / 4.0 + 1e-5).sqrt();
        for i in 0..4 {
            assert!((out[i] - x[i] / r * w[i]).abs() < 1e-6);
        }
        let mut s = [1.0f32, 2.0, 3.0];
        scale_f32(&mut s, 2.0);
        assert_eq!(s, [2.0, 4.0, 6.0]);
        softmax_inplace(&mut s);
        let total: f32 = s.iter().sum();
        assert!((total - 1.0).abs() < 1e-6 && s[2] > s[1] && s[1] > s[0]);
        assert!((s[1] / s[0] - 2f32.exp()).abs() < 1e-4);
        let mut masked = [f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY];
        softmax_inplace(&mut masked);
        assert_eq!(masked, [0.0, 1.0, 0.0]);
        let mut all_masked = [f32::NEG_INFINITY; 2];
        softmax_inplace(&mut all_masked);
        assert_eq!(all_masked, [0.0, 0.0]);
    }
}

//! Dot product of one weight row with one prepared activation row, per weight type.
//!
//! | weight | activation | llama.cpp counterpart      |
//! |--------|------------|----------------------------|
//! | Q8_0   | Q8_0       | `ggml_vec_dot_q8_0_q8_0`   |
//! | Q4_0   | Q8_0       | `ggml_vec_dot_q4_0_q8_0`   |
//! | Q4_1   | Q8_1       | `ggml_vec_dot_q4_1_q8_1`   |
//! | Q4_K   | Q8_K       | `ggml_vec_dot_q4_K_q8_K`   |
//! | Q6_K   | Q8_K       | `ggml_vec_dot_q6_K_q8_K`   |
//! | F32 / F16 / BF16 | f32 | `ggml_vec_dot_f32` / `_f16` (f32 activations here) |
//!
//! Each has a plain `*_reference` (integer sums per block exactly as llama.cpp's scalar code, then the
//! float scale) and a SIMD version in `dot/x86.rs` (AVX2 `vpmaddubsw`, or AVX-512 VNNI `vpdpbusd` on
//! 256-bit vectors) chosen by an explicit [`Isa`] (the public wrappers use [`simd::isa`]). Integer parts
//! are exact on every path; only the f32 accumulation order differs. All are O(k).

use super::quant::{f16_at, q4k_scale_min, Q8KRow, Q8Row, QK, QK_K};
use super::simd::{self, Isa};
use half::{bf16, f16};

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

/// Q8_0 weight row · Q8_0 activations.
pub fn dot_q8_0(path: Isa, w: &[u8], a: Q8Row) -> f32 {
    check_q8(w, 34, a);
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: path ≥ Avx2 only when AVX2+FMA+F16C (and for Avx512, VNNI+VL) were detected; lengths
        // checked above.
        return unsafe { x86::dot_q8_0(path, w, a) };
    }
    let _ = path;
    dot_q8_0_reference(w, a)
}

/// Q4_0 weight row · Q8_0 activations.
pub fn dot_q4_0(path: Isa, w: &[u8], a: Q8Row) -> f32 {
    check_q8(w, 18, a);
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: as in `dot_q8_0`.
        return unsafe { x86::dot_q4_0(path, w, a) };
    }
    let _ = path;
    dot_q4_0_reference(w, a)
}

/// Q4_1 weight row · Q8_1 activations.
pub fn dot_q4_1(path: Isa, w: &[u8], a: Q8Row) -> f32 {
    check_q8(w, 20, a);
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: as in `dot_q8_0`.
        return unsafe { x86::dot_q4_1(path, w, a) };
    }
    let _ = path;
    dot_q4_1_reference(w, a)
}

/// Q4_K weight row · Q8_K activations.
pub fn dot_q4k(path: Isa, w: &[u8], a: Q8KRow) -> f32 {
    check_q8k(w, 144, a);
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: as in `dot_q8_0`.
        return unsafe { x86::dot_q4k(path, w, a) };
    }
    let _ = path;
    dot_q4k_reference(w, a)
}

/// Q6_K weight row · Q8_K activations.
pub fn dot_q6k(path: Isa, w: &[u8], a: Q8KRow) -> f32 {
    check_q8k(w, 210, a);
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: as in `dot_q8_0`.
        return unsafe { x86::dot_q6k(path, w, a) };
    }
    let _ = path;
    dot_q6k_reference(w, a)
}

/// F32 weight row (little-endian bytes) · f32 activations.
pub fn dot_f32_row(path: Isa, w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 4 * x.len(), "dot_f32_row: row bytes / activation length mismatch");
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: AVX2+FMA detected; lengths checked.
        return unsafe { x86::dot_f32_bytes(w, x) };
    }
    let _ = path;
    dot_f32_row_reference(w, x)
}

/// F16 weight row · f32 activations.
pub fn dot_f16_row(path: Isa, w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_f16_row: row bytes / activation length mismatch");
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: AVX2+FMA+F16C detected; lengths checked.
        return unsafe { x86::dot_f16_bytes(w, x) };
    }
    let _ = path;
    dot_f16_row_reference(w, x)
}

/// BF16 weight row · f32 activations.
pub fn dot_bf16_row(path: Isa, w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_bf16_row: row bytes / activation length mismatch");
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: AVX2+FMA detected; lengths checked.
        return unsafe { x86::dot_bf16_bytes(w, x) };
    }
    let _ = path;
    dot_bf16_row_reference(w, x)
}

/// The auto-selected path ([`simd::isa`]).
pub fn default_isa() -> Isa {
    simd::isa()
}

fn check_q8(w: &[u8], block_bytes: usize, a: Q8Row) {
    let nb = a.d.len();
    assert!(
        w.len() == nb * block_bytes && a.qs.len() == nb * QK && a.sd.len() == nb && a.s.len() == nb,
        "quantized dot: weight row has {} bytes, activations {} blocks",
        w.len(),
        nb
    );
}

fn check_q8k(w: &[u8], block_bytes: usize, a: Q8KRow) {
    let nb = a.d.len();
    assert!(
        w.len() == nb * block_bytes && a.qs.len() == nb * QK_K && a.bsums.len() == nb * 16,
        "K-quant dot: weight row has {} bytes, activations {} super-blocks",
        w.len(),
        nb
    );
}

// ---------------------------------------------------------------------------------------------------
// References.
// ---------------------------------------------------------------------------------------------------

/// Reference Q8_0 · Q8_0: `Σ_b d_w·d_a·Σ q_w·q_a`.
pub fn dot_q8_0_reference(w: &[u8], a: Q8Row) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(34).enumerate() {
        let qa = &a.qs[b * QK..(b + 1) * QK];
        let sumi: i32 = blk[2..].iter().zip(qa).map(|(&w, &x)| (w as i8) as i32 * x as i32).sum();
        sum += sumi as f32 * (f16_at(blk, 0) * a.d[b]);
    }
    sum
}

/// Reference Q4_0 · Q8_0: `Σ_b d_w·d_a·Σ (q_w − 8)·q_a`.
pub fn dot_q4_0_reference(w: &[u8], a: Q8Row) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(18).enumerate() {
        let qa = &a.qs[b * QK..(b + 1) * QK];
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += ((blk[2 + j] & 0xF) as i32 - 8) * qa[j] as i32;
            sumi += ((blk[2 + j] >> 4) as i32 - 8) * qa[j + 16] as i32;
        }
        sum += sumi as f32 * (f16_at(blk, 0) * a.d[b]);
    }
    sum
}

/// Reference Q4_1 · Q8_1: `Σ_b d_w·d_a·Σ q_w·q_a + m_w·s_a`.
pub fn dot_q4_1_reference(w: &[u8], a: Q8Row) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(20).enumerate() {
        let qa = &a.qs[b * QK..(b + 1) * QK];
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += (blk[4 + j] & 0xF) as i32 * qa[j] as i32;
            sumi += (blk[4 + j] >> 4) as i32 * qa[j + 16] as i32;
        }
        sum += sumi as f32 * (f16_at(blk, 0) * a.d[b]) + f16_at(blk, 2) * a.s[b];
    }
    sum
}

/// Reference Q4_K · Q8_K: per super-block `d·d_a·Σ_j sc_j·Σ q·q_a − dmin·d_a·Σ_j m_j·Σ q_a`.
pub fn dot_q4k_reference(w: &[u8], a: Q8KRow) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(144).enumerate() {
        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
        let qa = &a.qs[b * QK_K..(b + 1) * QK_K];
        let bs = &a.bsums[b * 16..(b + 1) * 16];
        let mut sumi = 0i32;
        let mut summ = 0i32;
        for j in 0..8 {
            let (sc, m) = q4k_scale_min(j, &blk[4..16]);
            let chunk = &blk[16 + 32 * (j / 2)..16 + 32 * (j / 2) + 32];
            let shift = 4 * (j % 2);
            let s: i32 = (0..32).map(|l| ((chunk[l] >> shift) & 0xF) as i32 * qa[32 * j + l] as i32).sum();
            sumi += sc as i32 * s;
            summ += m as i32 * (bs[2 * j] as i32 + bs[2 * j + 1] as i32);
        }
        sum += a.d[b] * d * sumi as f32 - a.d[b] * dmin * summ as f32;
    }
    sum
}

/// The 6-bit quant of element `i` (0..256) of a Q6_K block (0..63, offset 32 not removed).
#[inline]
pub(crate) fn q6k_quant(blk: &[u8], i: usize) -> u8 {
    let (n, r) = (i / 128, i % 128);
    let (quarter, l) = (r / 32, r % 32);
    let ql = blk[64 * n + l + 32 * (quarter & 1)];
    let low = if quarter < 2 { ql & 0xF } else { ql >> 4 };
    let high = (blk[128 + 32 * n + l] >> (2 * quarter)) & 3;
    low | (high << 4)
}

/// Reference Q6_K · Q8_K: per super-block `d·d_a·Σ_g sc_g·Σ (q − 32)·q_a`.
pub fn dot_q6k_reference(w: &[u8], a: Q8KRow) -> f32 {
    let mut sum = 0f32;
    for (b, blk) in w.chunks_exact(210).enumerate() {
        let d = f16_at(blk, 208);
        let qa = &a.qs[b * QK_K..(b + 1) * QK_K];
        let mut sumi = 0i32;
        for g in 0..16 {
            let sc = blk[192 + g] as i8 as i32;
            let s: i32 = (16 * g..16 * g + 16).map(|i| (q6k_quant(blk, i) as i32 - 32) * qa[i] as i32).sum();
            sumi += sc * s;
        }
        sum += a.d[b] * d * sumi as f32;
    }
    sum
}

/// Reference F32 row · f32.
pub fn dot_f32_row_reference(w: &[u8], x: &[f32]) -> f32 {
    w.chunks_exact(4).zip(x).map(|(c, &v)| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * v).sum()
}

/// Reference F16 row · f32.
pub fn dot_f16_row_reference(w: &[u8], x: &[f32]) -> f32 {
    w.chunks_exact(2).zip(x).map(|(c, &v)| f16::from_le_bytes([c[0], c[1]]).to_f32() * v).sum()
}

/// Reference BF16 row · f32.
pub fn dot_bf16_row_reference(w: &[u8], x: &[f32]) -> f32 {
    w.chunks_exact(2).zip(x).map(|(c, &v)| bf16::from_le_bytes([c[0], c[1]]).to_f32() * v).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::quant::{dequantize_row, quantize_row_q8_reference, quantize_row_q8k, quantize_rows, Q8Activations, Q8KActivations};
    use crate::cpu::simd::available_isas;
    use crate::DType;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A row of random raw blocks (every quant pattern, including Q8_0's −128) with sane f16 scales.
    fn random_row(rng: &mut ChaCha8Rng, dtype: DType, k: usize) -> Vec<u8> {
        let bb = dtype.block_bytes();
        let mut row: Vec<u8> = (0..dtype.bytes_for(k).unwrap()).map(|_| rng.gen()).collect();
        let put = |blk: &mut [u8], off: usize, rng: &mut ChaCha8Rng| {
            blk[off..off + 2].copy_from_slice(&f16::from_f32(rng.gen_range(-0.05..0.05)).to_le_bytes());
        };
        for blk in row.chunks_exact_mut(bb) {
            match dtype {
                DType::Q8_0 | DType::Q4_0 => put(blk, 0, rng),
                DType::Q4_1 | DType::Q4K => {
                    put(blk, 0, rng);
                    put(blk, 2, rng);
                }
                DType::Q6K => put(blk, 208, rng),
                _ => {}
            }
        }
        if !dtype.is_quantized() {
            let v: Vec<f32> = (0..k).map(|_| rng.gen_range(-1.0..1.0)).collect();
            return quantize_rows(dtype, &v, k).unwrap();
        }
        row
    }

    fn q8_for(x: &[f32]) -> Q8Activations {
        let mut a = Q8Activations::default();
        a.resize(1, x.len());
        quantize_row_q8_reference(x, &mut a.qs, &mut a.d, &mut a.sd, &mut a.s);
        a
    }

    fn q8k_for(x: &[f32]) -> Q8KActivations {
        let mut a = Q8KActivations::default();
        a.resize(1, x.len());
        quantize_row_q8k(x, &mut a.qs, &mut a.d, &mut a.bsums);
        a
    }

    /// `(reference, per path results, Σ|w·x| magnitude, dequantized f32 dot)`.
    fn run(dtype: DType, w: &[u8], x: &[f32]) -> (f32, Vec<(Isa, f32)>, f32, f32) {
        let k = x.len();
        let mut wf = vec![0f32; k];
        dequantize_row(dtype, w, &mut wf);
        let q8 = q8_for(x);
        let q8k = k.is_multiple_of(QK_K).then(|| q8k_for(x));
        // The activations as the integer kernels see them.
        let xa: Vec<f32> = match dtype {
            DType::Q4K | DType::Q6K => {
                let a = q8k.as_ref().unwrap();
                (0..k).map(|i| a.qs[i] as f32 * a.d[i / QK_K]).collect()
            }
            DType::F32 | DType::F16 | DType::BF16 => x.to_vec(),
            _ => (0..k).map(|i| q8.qs[i] as f32 * q8.d[i / QK]).collect(),
        };
        let mag: f32 = wf.iter().zip(&xa).map(|(a, b)| (a * b).abs()).sum::<f32>() + 1e-6;
        let deq: f32 = wf.iter().zip(&xa).map(|(a, b)| a * b).sum();
        let call = |p: Isa| match dtype {
            DType::Q8_0 => dot_q8_0(p, w, q8.row(0)),
            DType::Q4_0 => dot_q4_0(p, w, q8.row(0)),
            DType::Q4_1 => dot_q4_1(p, w, q8.row(0)),
            DType::Q4K => dot_q4k(p, w, q8k.as_ref().unwrap().row(0)),
            DType::Q6K => dot_q6k(p, w, q8k.as_ref().unwrap().row(0)),
            DType::F32 => dot_f32_row(p, w, x),
            DType::F16 => dot_f16_row(p, w, x),
            DType::BF16 => dot_bf16_row(p, w, x),
        };
        let reference = call(Isa::Portable);
        (reference, available_isas().into_iter().map(|p| (p, call(p))).collect(), mag, deq)
    }

    #[test]
    fn simd_dots_match_reference_on_every_path() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for dtype in DType::ALL {
            let lens: &[usize] = if dtype.block_elems() == QK_K { &[256, 512, 1536] } else { &[32, 64, 96, 576, 1536] };
            for &k in lens {
                for trial in 0..4 {
                    let w = random_row(&mut rng, dtype, k);
                    let mut x: Vec<f32> = (0..k).map(|_| rng.gen_range(-3.0..3.0)).collect();
                    if trial == 1 {
                        x[..k / 2].fill(0.0); // all-zero activation blocks
                    }
                    let (reference, got, mag, deq) = run(dtype, &w, &x);
                    for (p, v) in got {
                        assert!((v - reference).abs() <= 2e-6 * mag, "{dtype} k={k} {p:?}: {v} vs reference {reference} (mag {mag})");
                    }
                    // The reference computes Σ dequant(w)·dequant(a); Q4_1's f16-rounded s adds ≤ 2⁻¹¹·|m·s|.
                    let tol = if dtype == DType::Q4_1 { 1e-3 } else { 2e-6 };
                    assert!((reference - deq).abs() <= tol * mag, "{dtype} k={k}: reference {reference} vs dequantized {deq}");
                }
            }
        }
    }

    #[test]
    fn q6k_quant_indexing_matches_dequantize() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let blk = random_row(&mut rng, DType::Q6K, 256);
        let mut y = [0f32; 256];
        dequantize_row(DType::Q6K, &blk, &mut y);
        let d = f16_at(&blk, 208);
        for i in 0..256 {
            let sc = blk[192 + i / 16] as i8 as f32;
            assert_eq!(y[i], d * sc * (q6k_quant(&blk, i) as i32 - 32) as f32, "element {i}");
        }
    }
}

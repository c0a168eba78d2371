//! Tests of the matmul driver: every SIMD path against the portable one, the portable one against a
//! naive dequantize-then-f64 matmul (within the int8 activation error bound), f32 precision ~exact.

use super::*;
use crate::cpu::quant::{dequantize_row, quantize_rows};
use crate::cpu::simd::available_isas;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Case {
    dtype: DType,
    n: usize,
    k: usize,
    bytes: Vec<u8>,
    /// [n, k] dequantized weights.
    wf: Vec<f32>,
}

impl Case {
    fn new(rng: &mut ChaCha8Rng, dtype: DType, n: usize, k: usize) -> Case {
        let vals: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-1.0f32..1.0) * rng.gen_range(0.0f32..0.1)).collect();
        let bytes = quantize_rows(dtype, &vals, k).unwrap();
        let mut wf = vec![0f32; n * k];
        let rb = dtype.bytes_for(k).unwrap();
        for (src, dst) in bytes.chunks_exact(rb).zip(wf.chunks_exact_mut(k)) {
            dequantize_row(dtype, src, dst);
        }
        Case { dtype, n, k, bytes, wf }
    }

    fn w(&self) -> WeightMatrix<'_> {
        WeightMatrix { dtype: self.dtype, rows: self.n, cols: self.k, data: &self.bytes }
    }
}

fn activations(rng: &mut ChaCha8Rng, m: usize, k: usize) -> Vec<f32> {
    (0..m * k).map(|i| if i % 61 == 7 { 0.0 } else { rng.gen_range(-2.0f32..2.0) }).collect()
}

/// (naive f64 result, Σ|w·x|, int8 error bound) for out[t, r].
fn naive(c: &Case, x: &[f32], t: usize, r: usize) -> (f64, f64, f64) {
    let (k, blk) = (c.k, if matches!(c.dtype, DType::Q4K | DType::Q6K) { QK_K } else { QK });
    let xr = &x[t * k..(t + 1) * k];
    let wr = &c.wf[r * k..(r + 1) * k];
    let (mut sum, mut mag, mut bound) = (0f64, 0f64, 0f64);
    for (xb, wb) in xr.chunks(blk).zip(wr.chunks(blk)) {
        // Activation quantization error ≤ d/2 = amax/254 per element.
        let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
        for (&xv, &wv) in xb.iter().zip(wb) {
            sum += xv as f64 * wv as f64;
            mag += (xv as f64 * wv as f64).abs();
            bound += (wv as f64).abs() * amax / 254.0 * 1.01;
        }
    }
    (sum, mag, bound)
}

fn run(path: Isa, c: &Case, x: &[f32], m: usize, precision: ActivationPrecision) -> Vec<f32> {
    let mut act = PreparedActivations::new();
    act.set(x, m, c.k, precision);
    let mut out = vec![f32::NAN; m * c.n];
    matmul_prepared_with(path, &c.w(), &mut act, &mut out);
    out
}

fn check_all_paths(c: &Case, m: usize, rng: &mut ChaCha8Rng) {
    let x = activations(rng, m, c.k);
    for precision in [ActivationPrecision::Int8, ActivationPrecision::F32] {
        let reference = run(Isa::Portable, c, &x, m, precision);
        for t in 0..m {
            for r in 0..c.n {
                let (want, mag, bound) = naive(c, &x, t, r);
                let got = reference[t * c.n + r] as f64;
                let tol = match (precision, c.dtype.is_quantized()) {
                    (ActivationPrecision::Int8, true) => bound + 1e-3 * mag + 1e-6,
                    _ => 1e-5 * mag + 1e-6,
                };
                assert!((got - want).abs() <= tol, "{} {precision:?} m={m} t={t} r={r}: {got} vs naive {want} (tol {tol})", c.dtype);
            }
        }
        for path in available_isas() {
            let got = run(path, c, &x, m, precision);
            for i in 0..m * c.n {
                let (t, r) = (i / c.n, i % c.n);
                let mag = naive(c, &x, t, r).1;
                assert!(
                    ((got[i] - reference[i]) as f64).abs() <= 1e-5 * mag + 1e-6,
                    "{} {precision:?} {path:?} m={m} t={t} r={r}: {} vs portable {}",
                    c.dtype,
                    got[i],
                    reference[i]
                );
            }
        }
    }
}

#[test]
fn matmul_matches_naive_for_every_type_path_and_shape() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for dtype in DType::ALL {
        let k = if dtype.block_elems() == QK_K { 512 } else { 96 };
        for n in [1, 13] {
            let c = Case::new(&mut rng, dtype, n, k);
            for m in [1, 3, 17, 64] {
                check_all_paths(&c, m, &mut rng);
            }
        }
    }
}

#[test]
fn dense_weights_with_odd_k() {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let c = Case::new(&mut rng, dtype, 7, 37);
        for m in [1, 2, 5] {
            check_all_paths(&c, m, &mut rng);
        }
    }
}

#[test]
fn parallel_tasks_cover_every_output_on_1_and_2_threads() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            for dtype in [DType::Q4_1, DType::Q8_0, DType::Q4K] {
                // 150 tokens: three token blocks, the last one partial; 37 rows: a partial row tile.
                let c = Case::new(&mut rng, dtype, 37, 512);
                let m = 150;
                let x = activations(&mut rng, m, c.k);
                let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
                let want = single.install(|| run(Isa::Portable, &c, &x, m, ActivationPrecision::Int8));
                let got = run(isa(), &c, &x, m, ActivationPrecision::Int8);
                for i in 0..m * c.n {
                    let mag = naive(&c, &x, i / c.n, i % c.n).1;
                    assert!(((got[i] - want[i]) as f64).abs() <= 1e-5 * mag + 1e-6, "{dtype} {threads} threads: element {i}");
                }
            }
        });
    }
}

#[test]
fn prepared_activations_are_reused_across_types_and_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(24);
    let a = Case::new(&mut rng, DType::Q4_1, 9, 512);
    let b = Case::new(&mut rng, DType::Q6K, 5, 512);
    let mut act = PreparedActivations::new();
    for m in [4, 2, 6] {
        let x = activations(&mut rng, m, 512);
        act.set(&x, m, 512, ActivationPrecision::Int8);
        assert_eq!((act.m(), act.k()), (m, 512));
        for c in [&a, &b, &a] {
            let mut out = vec![0f32; m * c.n];
            matmul_prepared(&c.w(), &mut act, &mut out);
            let fresh = run(isa(), c, &x, m, ActivationPrecision::Int8);
            assert_eq!(out, fresh, "{} m={m}", c.dtype);
        }
    }
    // Convenience wrapper and empty inputs.
    let x = activations(&mut rng, 2, 512);
    let mut out = vec![0f32; 2 * a.n];
    matmul(&a.w(), &x, 2, &mut out, ActivationPrecision::Int8);
    assert_eq!(out, run(isa(), &a, &x, 2, ActivationPrecision::Int8));
    matmul(&a.w(), &[], 0, &mut [], ActivationPrecision::F32);
}

#[test]
fn q8_activation_quantization_is_bit_identical_on_every_path() {
    let mut rng = ChaCha8Rng::seed_from_u64(25);
    let x = activations(&mut rng, 1, 1536);
    let nb = 1536 / QK;
    let run_path = |p: Isa| {
        let (mut qs, mut d, mut sd, mut s) = (vec![0i8; 1536], vec![0f32; nb], vec![0f32; nb], vec![0f32; nb]);
        quantize_row_q8(p, &x, &mut qs, &mut d, &mut sd, &mut s);
        (qs, d, sd, s)
    };
    let want = run_path(Isa::Portable);
    for p in available_isas() {
        assert_eq!(run_path(p), want, "{p:?}");
    }
}

#[test]
#[should_panic(expected = "activations have k")]
fn shape_mismatch_panics() {
    let mut rng = ChaCha8Rng::seed_from_u64(26);
    let c = Case::new(&mut rng, DType::Q8_0, 2, 64);
    let x = activations(&mut rng, 1, 32);
    let mut out = vec![0f32; 2];
    let mut act = PreparedActivations::new();
    act.set(&x, 1, 32, ActivationPrecision::Int8);
    matmul_prepared(&c.w(), &mut act, &mut out);
}

/// A token's output must not depend on which batch it is in: the decode path (m = 1) and the prompt
/// tiles (m > 1) give the same row to float-reordering precision, for every type and path.
#[test]
fn a_rows_result_does_not_depend_on_batch_size() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    for dtype in DType::ALL {
        for (n, k) in [(19, if dtype.block_elems() == 256 { 512 } else { 576 }), (67, 1536)] {
        let c = Case::new(&mut rng, dtype, n, k);
        let x = activations(&mut rng, 6, k);
        for path in available_isas() {
            for precision in [ActivationPrecision::Int8, ActivationPrecision::F32] {
                let batch = run(path, &c, &x, 6, precision);
                for t in 0..6 {
                    let alone = run(path, &c, &x[t * k..(t + 1) * k], 1, precision);
                    for r in 0..c.n {
                        let (a, b) = (alone[r], batch[t * c.n + r]);
                        let scale = c.wf[r * k..(r + 1) * k].iter().zip(&x[t * k..]).map(|(w, x)| (w * x).abs()).sum::<f32>();
                        assert!((a - b).abs() <= 1e-5 * scale.max(1e-6), "{dtype} {path:?} {precision:?} k {k} token {t} row {r}: alone {a} vs batched {b}");
                    }
                }
            }
        }
        }
    }
}

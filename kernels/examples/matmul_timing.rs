//! Quick timing of the CPU matmul shapes of the default model (SmolLM2-135M: hidden 576, FFN 1536,
//! Q4_1 weights, tied Q8_0 output 49152×576) at m = 1 and m = 512, on 1 and 2 rayon threads.
//!
//! `cargo run -p llmserve-kernels --release --example matmul_timing [filter | model]`; `PRECISION=f32`
//! times f32 activations; set
//! `LLMSERVE_CPU_ISA=avx2|portable` to time a lower path. The criterion benches live in the root
//! `benches/kernels.rs`; this is the dependency-light version for kernel work.

use std::time::Instant;

use llmserve_kernels::cpu::quant::quantize_rows;
use llmserve_kernels::cpu::{matmul_prepared, ActivationPrecision, PreparedActivations, WeightMatrix};
use llmserve_kernels::DType;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Matmuls of the whole SmolLM2-135M forward (30 layers of q, k, v, o, gate, up, down in Q4_1, then the
/// Q8_0 output for one token), distinct weights per layer so they stream from memory as in the model.
/// Prints tokens/s counting matmuls only (no attention, norms, RoPE).
fn model(threads: usize, m: usize, balanced: bool) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (h, f, kv) = (576, 1536, 192);
    let shapes = [(h, h), (kv, h), (kv, h), (h, h), (f, h), (f, h), (h, f)];
    let layers: Vec<Vec<(Vec<u8>, usize, usize)>> = (0..30)
        .map(|_| {
            shapes
                .iter()
                .map(|&(n, k)| {
                    let v: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
                    (quantize_rows(DType::Q4_1, &v, k).unwrap(), n, k)
                })
                .collect()
        })
        .collect();
    let v: Vec<f32> = (0..49152 * h).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
    let output = quantize_rows(DType::Q8_0, &v, h).unwrap();
    let x: Vec<f32> = (0..m * f).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let mut out = vec![0f32; m * f.max(49152)];
    let mut act = PreparedActivations::new();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let mut forward = || {
        for layer in &layers {
            for (i, (data, n, k)) in layer.iter().enumerate() {
                // q/k/v share one prepared input, gate/up another (as in the model).
                // `balanced` = the model's default: f32 activations for Q|K|V, int8 elsewhere.
                if matches!(i, 0 | 3 | 4 | 6) {
                    let p = if balanced && i == 0 { ActivationPrecision::F32 } else { ActivationPrecision::Int8 };
                    act.set(&x[..m * k], m, *k, p);
                }
                let w = WeightMatrix { dtype: DType::Q4_1, rows: *n, cols: *k, data };
                matmul_prepared(&w, &mut act, &mut out[..m * n]);
            }
        }
        act.set(&x[..h], 1, h, ActivationPrecision::Int8);
        let w = WeightMatrix { dtype: DType::Q8_0, rows: 49152, cols: h, data: &output };
        matmul_prepared(&w, &mut act, &mut out[..49152]);
    };
    let best = pool.install(|| {
        forward();
        let mut best = f64::INFINITY;
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < 3.0 {
            let t = Instant::now();
            forward();
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    });
    let mode = if balanced { "balanced" } else { "int8" };
    println!("model matmuls ({mode:<8}) m={m:<4} threads={threads}: {:>8.2} ms/forward  {:>7.1} tok/s", best * 1e3, m as f64 / best);
}

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let precision = match std::env::var("PRECISION").as_deref() {
        Ok("f32") => ActivationPrecision::F32,
        _ => ActivationPrecision::Int8,
    };
    if filter == "model" {
        for balanced in [false, true] {
            for m in [1, 512] {
                for threads in [1, 2] {
                    model(threads, m, balanced);
                }
            }
        }
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let shapes: &[(&str, DType, usize, usize, &[usize])] = &[
        ("q4_1 up 1536x576", DType::Q4_1, 1536, 576, &[1, 512]),
        ("q4_1 down 576x1536", DType::Q4_1, 576, 1536, &[1, 512]),
        ("q4_1 attn 576x576", DType::Q4_1, 576, 576, &[1, 512]),
        ("q8_0 output 49152x576", DType::Q8_0, 49152, 576, &[1]),
        ("q4_k 1536x576->768", DType::Q4K, 1536, 768, &[1, 512]),
        ("q6_k 1536x768", DType::Q6K, 1536, 768, &[1, 512]),
        ("f16 576x576", DType::F16, 576, 576, &[1, 64]),
        ("f16 dram 16384x4096", DType::F16, 16384, 4096, &[1]),
        ("q8_0 dram 16384x4096", DType::Q8_0, 16384, 4096, &[1]),
        ("q4_1 dram 16384x4096", DType::Q4_1, 16384, 4096, &[1]),
    ];
    println!("isa = {:?}, activations {precision:?} (PRECISION=f32|int8)", llmserve_kernels::cpu::simd::isa());
    for &(name, dtype, n, k, ms) in shapes {
        if !name.contains(&filter) {
            continue;
        }
        let vals: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
        let data = quantize_rows(dtype, &vals, k).unwrap();
        let w = WeightMatrix { dtype, rows: n, cols: k, data: &data };
        for &m in ms {
            let x: Vec<f32> = (0..m * k).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            let mut out = vec![0f32; m * n];
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut act = PreparedActivations::new();
                let per_call = pool.install(|| {
                    let mut run = || {
                        act.set(&x, m, k, precision);
                        matmul_prepared(&w, &mut act, &mut out);
                    };
                    for _ in 0..3 {
                        run();
                    }
                    // Minimum over short batches: robust to other processes sharing the cores.
                    let t = Instant::now();
                    run();
                    let one = t.elapsed().as_secs_f64();
                    let per_batch = ((2e-3 / one) as usize).max(1);
                    let start = Instant::now();
                    let mut best = f64::INFINITY;
                    while start.elapsed().as_secs_f64() < 1.0 {
                        let t = Instant::now();
                        for _ in 0..per_batch {
                            run();
                        }
                        best = best.min(t.elapsed().as_secs_f64() / per_batch as f64);
                    }
                    best
                });
                let flops = 2.0 * (m * n * k) as f64;
                let gbs = data.len() as f64 / per_call / 1e9;
                println!(
                    "{name:<24} m={m:<4} threads={threads}: {:>9.1} us/call  {:>6.1} GFLOP/s  {:>5.1} GB/s weights",
                    per_call * 1e6,
                    flops / per_call / 1e9,
                    gbs
                );
            }
        }
    }
}

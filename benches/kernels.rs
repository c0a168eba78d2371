//! Criterion benches of the CPU matmul kernels on the default model's shapes (SmolLM2-135M: hidden 576,
//! FFN 1536, Q4_1 weights, tied Q8_0 output 49152×576), at m = 1 (decode) and m = 512 (prompt), on 1
//! and 2 rayon threads. Throughput is reported in elements = floating-point operations (2·m·n·k), so
//! criterion's "elem/s" reads as FLOP/s.
//!
//! `cargo bench -p llmserve --bench kernels [filter]`; `LLMSERVE_CPU_ISA=avx2|portable` times a lower
//! SIMD path. The timings include activation preparation (`PreparedActivations::set` + quantization),
//! as in the model forward.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use llmserve_kernels::cpu::quant::quantize_rows;
use llmserve_kernels::cpu::{matmul_prepared, ActivationPrecision, PreparedActivations, WeightMatrix};
use llmserve_kernels::DType;
use rand::{Rng, SeedableRng};

/// One weight shape to time: `[n, k]` of `dtype`, at each `m`.
struct Shape {
    name: &'static str,
    dtype: DType,
    n: usize,
    k: usize,
    ms: &'static [usize],
}

const SHAPES: &[Shape] = &[
    Shape { name: "q4_1_ffn_up_1536x576", dtype: DType::Q4_1, n: 1536, k: 576, ms: &[1, 512] },
    Shape { name: "q4_1_ffn_down_576x1536", dtype: DType::Q4_1, n: 576, k: 1536, ms: &[1, 512] },
    Shape { name: "q8_0_output_49152x576", dtype: DType::Q8_0, n: 49152, k: 576, ms: &[1] },
];

fn bench_matmul(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for shape in SHAPES {
        let values: Vec<f32> = (0..shape.n * shape.k).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
        let data = quantize_rows(shape.dtype, &values, shape.k).expect("bench shapes are whole blocks");
        let w = WeightMatrix { dtype: shape.dtype, rows: shape.n, cols: shape.k, data: &data };
        let mut group = c.benchmark_group(shape.name);
        group.sample_size(if shape.n * shape.k > 10_000_000 { 20 } else { 30 });
        for &m in shape.ms {
            let x: Vec<f32> = (0..m * shape.k).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            let mut out = vec![0f32; m * shape.n];
            group.throughput(Throughput::Elements((2 * m * shape.n * shape.k) as u64));
            for threads in [1usize, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
                let mut act = PreparedActivations::new();
                let id = BenchmarkId::new(format!("m{m}"), format!("{threads}threads"));
                group.bench_function(id, |b| {
                    pool.install(|| {
                        b.iter(|| {
                            act.set(&x, m, shape.k, ActivationPrecision::Int8);
                            matmul_prepared(&w, &mut act, &mut out);
                            std::hint::black_box(&out);
                        })
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench_matmul);
criterion_main!(benches);

//! Device tests: every CUDA kernel against its CPU reference (`llmserve_kernels::cuda::reference`) on
//! fresh random inputs, at LLaMA-3-8B sizes (hidden 4096, 32 q / 8 kv heads, head_dim 128, ffn 14336,
//! vocab 128256), SmolLM2 sizes (9 q / 3 kv heads, head_dim 64, hidden 576) and odd sizes that take
//! the kernels' scalar (non-vector) paths.
//!
//! - Outputs are poisoned with NaN before each launch, so an element the kernel forgets fails.
//! - bf16 outputs: |got - want| <= 1e-2 * max(|want|, 1e-2 * max|want|) element-wise, and never NaN;
//!   pure copies (embedding, KV-cache write) must be bit-exact.
//! - sampling: processed logits within 1e-5 relative; tokens must be admitted by the reference trace
//!   (same token for greedy rows; for sampled rows the token is kept and the draw falls in its
//!   interval, with a 1e-4 rounding slack: the device sums in another order).
//! - seeds are fresh per run and printed; `LLMSERVE_TEST_SEED=N` replays one.
//!
//! Skips with a printed reason when there is no libcuda or no device (`is_culib_present` first).
//! Run: `cargo test -p llmserve-kernels --features cuda --test cuda_kernels -- --nocapture`

use std::sync::{Arc, OnceLock};

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DeviceRepr};
use half::bf16;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use llmserve_kernels::cuda::launch::{CacheWriteArgs, DecodeAttentionArgs, DecodeWorkspace, PrefillAttentionArgs, RopeArgs};
use llmserve_kernels::cuda::reference::{self, attention::PagedAttentionInput, sampling};
use llmserve_kernels::cuda::{
    self, AttentionGeometry, CudaKernelError, CudaKernels, LogitBiasEntry, PagedCacheShape, PenaltyEntry, QkvLayout, RopeStyle,
    RowSamplingParams, PADDING_SLOT,
};

struct Gpu {
    ctx: Arc<CudaContext>,
    kernels: CudaKernels,
}

/// The device and the loaded kernels, or why there are none.
fn gpu() -> Result<&'static Gpu, &'static str> {
    static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();
    GPU.get_or_init(|| {
        if let Some(reason) = cuda::cuda_unavailable_reason() {
            return Err(reason);
        }
        let ctx = cuda::open_device(0).map_err(|e| e.to_string())?;
        let t = std::time::Instant::now();
        let kernels = CudaKernels::load(&ctx).unwrap_or_else(|e| panic!("a GPU is present but the kernels don't load: {e}"));
        println!("kernels for {} loaded in {:.2} s", kernels.arch(), t.elapsed().as_secs_f64());
        Ok(Gpu { ctx, kernels })
    })
    .as_ref()
    .map_err(|e| e.as_str())
}

macro_rules! gpu_or_skip {
    ($name:expr) => {
        match gpu() {
            Ok(g) => g,
            Err(reason) => {
                eprintln!("SKIPPED {}: {reason}", $name);
                return;
            }
        }
    };
}

/// A fresh seed (or `LLMSERVE_TEST_SEED`), printed for replay.
fn seed(test: &str) -> u64 {
    let s = std::env::var("LLMSERVE_TEST_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    println!("{test}: seed {s}");
    s
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` uniform values in (-scale, scale) rounded to bf16, generated in parallel chunks.
fn rand_bf16(seed: u64, n: usize, scale: f32) -> Vec<bf16> {
    let mut v = vec![bf16::ZERO; n];
    v.par_chunks_mut(1 << 16).enumerate().for_each(|(i, c)| {
        let mut r = rng(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        c.iter_mut().for_each(|x| *x = bf16::from_f32(r.gen_range(-scale..scale)));
    });
    v
}

fn up<T: DeviceRepr>(s: &Arc<CudaStream>, v: &[T]) -> CudaSlice<T> {
    s.clone_htod(v).expect("upload")
}

fn down<T: DeviceRepr + Default + Clone>(s: &Arc<CudaStream>, v: &CudaSlice<T>) -> Vec<T> {
    s.synchronize().expect("kernel failed");
    s.clone_dtoh(v).expect("download")
}

fn nan_bf16(s: &Arc<CudaStream>, n: usize) -> CudaSlice<bf16> {
    up(s, &vec![bf16::NAN; n])
}

/// Element-wise bf16 comparison at relative 1e-2 (floor 1e-2 of the largest magnitude); no NaN.
fn check_close(what: &str, got: &[bf16], want: &[bf16]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let max = want.iter().map(|x| x.to_f32().abs()).fold(0.0f32, f32::max);
    let floor = (1e-2 * max).max(1e-6);
    let mut worst = (0.0f32, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.to_f32(), w.to_f32());
        assert!(!g.is_nan(), "{what}: NaN at {i} (want {w})");
        let e = (g - w).abs() / w.abs().max(floor);
        if e > worst.0 {
            worst = (e, i);
        }
    }
    let (e, i) = worst;
    assert!(e <= 1e-2, "{what}: relative error {e} at {i}: got {} want {}", got[i].to_f32(), want[i].to_f32());
}

fn llama3_8b() -> AttentionGeometry {
    AttentionGeometry { num_q_heads: 32, num_kv_heads: 8, head_dim: 128 }
}

fn smollm2() -> AttentionGeometry {
    AttentionGeometry { num_q_heads: 9, num_kv_heads: 3, head_dim: 64 }
}

#[test]
fn embedding_gathers_rows_and_flags_bad_ids() {
    let g = gpu_or_skip!("embedding");
    let s = g.ctx.new_stream().unwrap();
    let seed = seed("embedding");
    for (vocab, hidden, n) in [(128_256usize, 4096usize, 37usize), (1000, 4095, 5), (49_152, 576, 64)] {
        let table = rand_bf16(seed, vocab * hidden, 1.0);
        let mut r = rng(seed + 1);
        let mut ids: Vec<u32> = (0..n).map(|_| r.gen_range(0..vocab as u32)).collect();
        ids[0] = 0;
        ids[n - 1] = vocab as u32 - 1;
        let d_table = up(&s, &table);
        let mut out = nan_bf16(&s, n * hidden);
        let mut flag = up(&s, &[0u32]);
        g.kernels.embedding(&s, &mut out, &d_table, &up(&s, &ids), &mut flag, n, hidden, vocab).unwrap();
        let mut want = vec![bf16::ZERO; n * hidden];
        assert!(!reference::embedding(&table, &ids, hidden, vocab, &mut want));
        assert_eq!(down(&s, &out), want, "embedding {vocab}x{hidden}");
        assert_eq!(down(&s, &flag), vec![0]);

        let bad = [vocab as u32, 3, u32::MAX];
        let mut out = nan_bf16(&s, 3 * hidden);
        g.kernels.embedding(&s, &mut out, &d_table, &up(&s, &bad), &mut flag, 3, hidden, vocab).unwrap();
        let mut want = vec![bf16::ZERO; 3 * hidden];
        assert!(reference::embedding(&table, &bad, hidden, vocab, &mut want));
        assert_eq!(down(&s, &out), want);
        assert_eq!(down(&s, &flag), vec![1], "out-of-range id sets the flag");
    }
}

#[test]
fn rms_norm_and_fused_add_match_reference() {
    let g = gpu_or_skip!("rms_norm");
    let s = g.ctx.new_stream().unwrap();
    let seed = seed("rms_norm");
    for (i, (rows, hidden)) in [(7usize, 4096usize), (33, 4093), (1, 576), (300, 4096)].into_iter().enumerate() {
        let sd = seed + 10 * i as u64;
        let x = rand_bf16(sd, rows * hidden, 4.0);
        let w = rand_bf16(sd + 1, hidden, 1.5);
        let res = rand_bf16(sd + 2, rows * hidden, 4.0);
        let eps = 1e-5;
        let (dx, dw) = (up(&s, &x), up(&s, &w));

        let mut out = nan_bf16(&s, rows * hidden);
        g.kernels.rms_norm(&s, &mut out, &dx, &dw, rows, hidden, eps).unwrap();
        let mut want = vec![bf16::ZERO; rows * hidden];
        reference::rms_norm(&x, &w, hidden, eps, &mut want);
        check_close(&format!("rms_norm {rows}x{hidden}"), &down(&s, &out), &want);

        let mut out = nan_bf16(&s, rows * hidden);
        let mut dres = up(&s, &res);
        g.kernels.fused_add_rms_norm(&s, &mut out, &mut dres, &dx, &dw, rows, hidden, eps).unwrap();
        let mut want_res = res.clone();
        reference::fused_add_rms_norm(&mut want_res, &x, &w, hidden, eps, &mut want);
        assert_eq!(down(&s, &dres), want_res, "fused_add_rms_norm residual {rows}x{hidden}");
        check_close(&format!("fused_add_rms_norm {rows}x{hidden}"), &down(&s, &out), &want);
    }
}

#[test]
fn rope_matches_reference_for_both_pairings() {
    let g = gpu_or_skip!("rope");
    let s = g.ctx.new_stream().unwrap();
    let seed = seed("rope");
    for (i, geom) in [llama3_8b(), smollm2()].into_iter().enumerate() {
        for style in [RopeStyle::Neox, RopeStyle::Interleaved] {
            let sd = seed + 7 * i as u64 + style as u64;
            let layout = QkvLayout::fused(&geom);
            let n = 19;
            let qkv = rand_bf16(sd, n * layout.row_stride, 2.0);
            let mut r = rng(sd);
            let mut positions: Vec<u32> = (0..n).map(|_| r.gen_range(0..8192)).collect();
            positions[0] = 0;
            positions[1] = 131_071;
            let d = geom.head_dim;
            let inv: Vec<f32> = (0..d / 2).map(|i| 500_000f64.powf(-2.0 * i as f64 / d as f64) as f32).collect();
            let mut dq = up(&s, &qkv);
            let args = RopeArgs { num_tokens: n, geometry: geom, layout, style };
            g.kernels.rope(&s, &mut dq, &up(&s, &positions), &up(&s, &inv), &args).unwrap();
            let mut want = qkv.clone();
            reference::rope(&mut want, &positions, &inv, &geom, &layout, style);
            check_close(&format!("rope {geom:?} {style:?}"), &down(&s, &dq), &want);
        }
    }
}

#[test]
fn reshape_and_cache_writes_exactly_the_mapped_slots() {
    let g = gpu_or_skip!("reshape_and_cache");
    let s = g.ctx.new_stream().unwrap();
    let seed = seed("reshape_and_cache");
    // (kv heads, head_dim, key stride, block size): fused LLaMA rows; SmolLM2; an odd width and
    // stride that take the scalar path.
    for (i, (nkv, d, stride, bs)) in [(8usize, 128usize, 6144usize, 16usize), (3, 64, 960, 16), (1, 65, 135, 5)].into_iter().enumerate() {
        let sd = seed + 13 * i as u64;
        let cache = PagedCacheShape { num_blocks: 40, block_size: bs, num_kv_heads: nkv, head_dim: d };
        let n = 50;
        let mut r = rng(sd);
        let mut slots: Vec<i32> = (0..cache.num_slots() as i32).collect();
        slots.shuffle(&mut r);
        slots.truncate(n);
        for t in [3, 17, 49] {
            slots[t] = PADDING_SLOT;
        }
        let w = cache.row_width();
        let rows = rand_bf16(sd, n * stride, 3.0);
        let k_off = stride - 2 * w; // k and v at the end of the row, like a fused [q | k | v]
        let (k0, v0) = (rand_bf16(sd + 1, cache.elems(), 1.0), rand_bf16(sd + 2, cache.elems(), 1.0));
        let (mut dk, mut dv) = (up(&s, &k0), up(&s, &v0));
        let drows = up(&s, &rows);
        let args = CacheWriteArgs { num_tokens: n, cache, key_stride: stride, value_stride: stride };
        g.kernels
            .reshape_and_cache(&s, &mut dk, &mut dv, &drows.slice(k_off..), &drows.slice(k_off + w..), &up(&s, &slots), &args)
            .unwrap();
        let (mut wk, mut wv) = (k0.clone(), v0.clone());
        reference::reshape_and_cache(&mut wk, &mut wv, &rows[k_off..], &rows[k_off + w..], &slots, &cache, stride, stride);
        assert_eq!(down(&s, &dk), wk, "k cache, case {i}");
        assert_eq!(down(&s, &dv), wv, "v cache, case {i}");
    }
}

#[test]
fn silu_and_mul_matches_reference() {
    let g = gpu_or_skip!("silu_and_mul");
    let s = g.ctx.new_stream().unwrap();
    let seed = seed("silu_and_mul");
    for (i, (n, ffn)) in [(5usize, 14336usize), (3, 1000), (2, 1001), (1, 1536), (70, 14336)].into_iter().enumerate() {
        let gu = rand_bf16(seed + i as u64, n * 2 * ffn, 6.0);
        let mut out = nan_bf16(&s, n * ffn);
        g.kernels.silu_and_mul(&s, &mut out, &up(&s, &gu), n, ffn).unwrap();
        let mut want = vec![bf16::ZERO; n * ffn];
        reference::silu_and_mul(&gu, ffn, &mut want);
        check_close(&format!("silu_and_mul {n}x{ffn}"), &down(&s, &out), &want);
    }
}

/// A paged batch: caches filled with random K/V, block tables of shuffled distinct blocks.
struct PagedBatch {
    cache: PagedCacheShape,
    k: Vec<bf16>,
    v: Vec<bf16>,
    block_tables: Vec<u32>,
    max_blocks: usize,
    seq_lens: Vec<u32>,
    qsl: Vec<u32>,
}

/// `seqs`: (cached, new) per sequence.
fn paged_batch(seed: u64, geom: &AttentionGeometry, block_size: usize, seqs: &[(usize, usize)]) -> PagedBatch {
    let blocks: Vec<usize> = seqs.iter().map(|(c, n)| (c + n).div_ceil(block_size)).collect();
    let max_blocks = blocks.iter().copied().max().unwrap_or(0).max(1);
    let num_blocks = blocks.iter().sum::<usize>() + 5;
    let cache = PagedCacheShape { num_blocks, block_size, num_kv_heads: geom.num_kv_heads, head_dim: geom.head_dim };
    let mut ids: Vec<u32> = (0..num_blocks as u32).collect();
    ids.shuffle(&mut rng(seed));
    let mut block_tables = vec![0u32; seqs.len() * max_blocks];
    let mut next = 0;
    for (i, &nb) in blocks.iter().enumerate() {
        block_tables[i * max_blocks..i * max_blocks + nb].copy_from_slice(&ids[next..next + nb]);
        next += nb;
    }
    let mut qsl = vec![0u32];
    for (_, n) in seqs {
        qsl.push(qsl.last().unwrap() + *n as u32);
    }
    PagedBatch {
        cache,
        k: rand_bf16(seed + 1, cache.elems(), 1.0),
        v: rand_bf16(seed + 2, cache.elems(), 1.0),
        block_tables,
        max_blocks,
        seq_lens: seqs.iter().map(|(c, n)| (c + n) as u32).collect(),
        qsl,
    }
}

impl PagedBatch {
    fn input(&self, geom: &AttentionGeometry) -> PagedAttentionInput<'_> {
        PagedAttentionInput {
            geometry: *geom,
            cache: self.cache,
            k_cache: &self.k,
            v_cache: &self.v,
            block_tables: &self.block_tables,
            max_blocks_per_seq: self.max_blocks,
            seq_lens: &self.seq_lens,
            query_start_loc: &self.qsl,
            scale: geom.scale(),
        }
    }
}

fn decode_case(gpu: &Gpu, s: &Arc<CudaStream>, seed: u64, geom: AttentionGeometry, block_size: usize, ctx_lens: &[usize]) {
    // A context of 0 is a padding row: its query is still one row (output must be zeros).
    let seqs: Vec<(usize, usize)> = ctx_lens.iter().map(|&c| (c.saturating_sub(1), 1)).collect();
    let mut b = paged_batch(seed, &geom, block_size, &seqs);
    for (i, &c) in ctx_lens.iter().enumerate() {
        b.seq_lens[i] = c as u32;
    }
    let n = ctx_lens.len();
    let q_stride = QkvLayout::fused(&geom).row_stride; // q read in place from a fused QKV row
    let q = rand_bf16(seed + 3, n * q_stride, 1.0);
    let qw = geom.q_width();
    let max_seq_len = ctx_lens.iter().copied().max().unwrap() + 100;
    let mut ws = DecodeWorkspace::new(s, n, &geom, max_seq_len).unwrap();
    let mut out = nan_bf16(s, n * qw);
    let args = DecodeAttentionArgs {
        num_seqs: n,
        geometry: geom,
        cache: b.cache,
        max_blocks_per_seq: b.max_blocks,
        max_seq_len,
        q_stride,
        out_stride: qw,
        scale: geom.scale(),
    };
    let t = std::time::Instant::now();
    gpu.kernels
        .paged_attention_decode(s, &mut out, &up(s, &q), &up(s, &b.k), &up(s, &b.v), &up(s, &b.block_tables), &up(s, &b.seq_lens), &mut ws, &args)
        .unwrap();
    let got = down(s, &out);
    let device_s = t.elapsed().as_secs_f64();
    let qsl: Vec<u32> = (0..=n as u32).collect();
    let mut input = b.input(&geom);
    input.query_start_loc = &qsl;
    let mut want = vec![bf16::NAN; n * qw];
    input.run(&q, q_stride, &mut want, qw);
    check_close(&format!("decode {geom:?} block {block_size} ctx {ctx_lens:?}"), &got, &want);
    println!("decode {geom:?} ctx {ctx_lens:?}: ok ({device_s:.3} s incl. upload)");
}

#[test]
fn paged_attention_decode_matches_reference() {
    let g = gpu_or_skip!("paged_attention_decode");
    let s = g.ctx.new_stream().unwrap();
    let seed = seed("paged_attention_decode");
    decode_case(g, &s, seed, llama3_8b(), 16, &[1, 17, 512, 513, 1300, 4100, 0]);
    decode_case(g, &s, seed + 1, smollm2(), 16, &[3, 700, 2049]);
    decode_case(g, &s, seed + 2, AttentionGeometry { num_q_heads: 16, num_kv_heads: 2, head_dim: 128 }, 16, &[1000, 5]);
    decode_case(g, &s, seed + 3, AttentionGeometry { num_q_heads: 4, num_kv_heads: 4, head_dim: 64 }, 32, &[600, 1]);
    decode_case(g, &s, seed + 4, AttentionGeometry { num_q_heads: 8, num_kv_heads: 4, head_dim: 128 }, 8, &[100, 1025]);
    let mut r = rng(seed + 5);
    let batch: Vec<usize> = (0..24).map(|_| r.gen_range(1..3000)).collect();
    decode_case(g, &s, seed + 6, llama3_8b(), 16, &batch);
}

fn prefill_case(gpu: &Gpu, s: &Arc<CudaStream>, seed: u64, geom: AttentionGeometry, block_size: usize, seqs: &[(usize, usize)]) {
    let b = paged_batch(seed, &geom, block_size, seqs);
    let num_tokens = *b.qsl.last().unwrap() as usize;
    let q_stride = QkvLayout::fused(&geom).row_stride;
    let q = rand_bf16(seed + 3, num_tokens * q_stride, 1.0);
    let qw = geom.q_width();
    let mut out = nan_bf16(s, num_tokens * qw);
    let args = PrefillAttentionArgs {
        num_seqs: seqs.len(),
        num_tokens,
        max_query_len: seqs.iter().map(|(_, n)| *n).max().unwrap(),
        geometry: geom,
        cache: b.cache,
        max_blocks_per_seq: b.max_blocks,
        q_stride,
        out_stride: qw,
        scale: geom.scale(),
    };
    gpu.kernels
        .paged_attention_prefill(s, &mut out, &up(s, &q), &up(s, &b.k), &up(s, &b.v), &up(s, &b.qsl), &up(s, &b.seq_lens), &up(s, &b.block_tables), &args)
        .unwrap();
    let got = down(s, &out);
    let mut want = vec![bf16::NAN; num_tokens * qw];
    b.input(&geom).run(&q, q_stride, &mut want, qw);
    check_close(&format!("prefill {geom:?} block {block_size} seqs {seqs:?}"), &got, &want);
    println!("prefill {geom:?} seqs {seqs:?}: ok");
}

#[test]
fn paged_attention_prefill_matches_reference() {
    let g = gpu_or_skip!("paged_attention_prefill");
    let s = g.ctx.new_stream().unwrap();
    let seed = seed("paged_attention_prefill");
    // (cached, new): fresh prompt of 1 and 37 tokens, block-aligned prefix hit, unaligned chunk, a
    // decode row in a mixed batch, a longer prompt.
    prefill_case(g, &s, seed, llama3_8b(), 16, &[(0, 1), (0, 37), (16, 100), (23, 9), (500, 1), (0, 300)]);
    prefill_case(g, &s, seed + 1, smollm2(), 16, &[(0, 77), (5, 40), (64, 1)]);
    prefill_case(g, &s, seed + 2, AttentionGeometry { num_q_heads: 16, num_kv_heads: 2, head_dim: 128 }, 16, &[(10, 50)]);
    prefill_case(g, &s, seed + 3, AttentionGeometry { num_q_heads: 4, num_kv_heads: 4, head_dim: 64 }, 1, &[(3, 20)]);
    prefill_case(g, &s, seed + 4, AttentionGeometry { num_q_heads: 32, num_kv_heads: 1, head_dim: 64 }, 16, &[(0, 40), (7, 3)]);
}

fn sampling_params(i: usize, uniform: f32) -> RowSamplingParams {
    let mut p = RowSamplingParams::greedy();
    p.uniform = uniform;
    match i % 8 {
        0 => {}
        1 => p.temperature = 1.0,
        2 => (p.temperature, p.top_k) = (0.7, 50),
        3 => (p.temperature, p.top_p) = (1.0, 0.9),
        4 => (p.temperature, p.min_p) = (1.0, 0.05),
        5 => (p.temperature, p.top_k) = (1.0, 1),
        6 => (p.temperature, p.top_k, p.top_p, p.min_p) = (0.9, 100, 0.8, 0.01),
        _ => (p.temperature, p.repetition_penalty, p.frequency_penalty, p.presence_penalty) = (1.3, 1.2, 0.5, 0.3),
    }
    p
}

#[test]
fn sampling_matches_reference() {
    let g = gpu_or_skip!("sampling");
    let s = g.ctx.new_stream().unwrap();
    let seed = seed("sampling");
    for (vocab, rows) in [(128_256usize, 16usize), (1000, 8), (49_152, 8)] {
        let mut r = rng(seed + vocab as u64);
        let mut logits: Vec<f32> = (0..rows * vocab).map(|_| r.gen_range(-4.0f32..4.0)).collect();
        for row in 0..rows {
            // A few peaks so the truncations have something to cut.
            for _ in 0..5 {
                let t = r.gen_range(0..vocab);
                logits[row * vocab + t] += r.gen_range(4.0..10.0);
            }
        }
        let mut penalties = Vec::new();
        let mut biases = Vec::new();
        for row in 0..rows as u32 {
            let mut toks: Vec<u32> = (0..vocab as u32).collect();
            toks.shuffle(&mut r);
            for &t in &toks[..200.min(vocab / 2)] {
                penalties.push(PenaltyEntry { row, token: t, output_count: r.gen_range(0..4) });
            }
            for &t in toks[vocab / 2..vocab / 2 + 10].iter().filter(|&&t| t != 4242) {
                biases.push(LogitBiasEntry { row, token: t, bias: r.gen_range(-5.0..5.0) });
            }
        }
        // Row 8 (greedy) gets a decisive bias: the token is known.
        if rows > 8 {
            biases.push(LogitBiasEntry { row: 8, token: 4242, bias: 100.0 });
        }
        for round in 0..3 {
            let params: Vec<RowSamplingParams> = (0..rows).map(|i| sampling_params(i, r.gen_range(0.0..1.0))).collect();
            let mut dl = up(&s, &logits);
            let dp = up(&s, &params);
            g.kernels.apply_penalties(&s, &mut dl, &dp, &up(&s, &penalties), penalties.len(), rows, vocab).unwrap();
            g.kernels.apply_logit_bias(&s, &mut dl, &up(&s, &biases), biases.len(), rows, vocab).unwrap();
            let processed = down(&s, &dl);
            let mut want = logits.clone();
            sampling::apply_penalties(&mut want, vocab, &params, &penalties);
            sampling::apply_logit_bias(&mut want, vocab, rows, &biases);
            for (i, (a, b)) in processed.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "processed logit {i}: {a} vs {b}");
            }
            let mut tokens = up(&s, &vec![u32::MAX; rows]);
            g.kernels.sample_tokens(&s, &mut tokens, &mut dl, &dp, rows, vocab).unwrap();
            let tokens = down(&s, &tokens);
            let traces = sampling::sample_rows(&want, vocab, &params);
            for (row, (t, trace)) in tokens.iter().zip(&traces).enumerate() {
                assert!(
                    trace.admits(*t, 1e-4),
                    "vocab {vocab} round {round} row {row} ({:?}): device token {t}, reference {} (tau {}, total {}, r {})",
                    params[row],
                    trace.token,
                    trace.tau,
                    trace.total,
                    trace.r
                );
            }
            if rows > 8 {
                assert_eq!(tokens[8], 4242);
            }
        }
    }
}

#[test]
fn sampling_follows_the_distribution_and_breaks_ties_low() {
    let g = gpu_or_skip!("sampling_distribution");
    let s = g.ctx.new_stream().unwrap();
    let vocab = 6;
    let row = [0.0f32, (3.0f32).ln(), -30.0, (2.0f32).ln(), 1.0, f32::NAN];
    let rows = 4096;
    let logits: Vec<f32> = row.iter().copied().cycle().take(rows * vocab).collect();
    let params: Vec<RowSamplingParams> = (0..rows)
        .map(|j| RowSamplingParams { temperature: 1.0, top_k: 3, uniform: (j as f32 + 0.5) / rows as f32, ..RowSamplingParams::greedy() })
        .collect();
    let mut tokens = up(&s, &vec![u32::MAX; rows]);
    g.kernels.sample_tokens(&s, &mut tokens, &mut up(&s, &logits), &up(&s, &params), rows, vocab).unwrap();
    let tokens = down(&s, &tokens);
    let mut counts = [0usize; 6];
    for (j, &t) in tokens.iter().enumerate() {
        let trace = sampling::sample_row(&row, &params[j]);
        assert!(trace.admits(t, 1e-4), "row {j}: {t} vs {}", trace.token);
        counts[t as usize] += 1;
    }
    let z = std::f32::consts::E + 5.0;
    for (i, want) in [(4, std::f32::consts::E / z), (1, 3.0 / z), (3, 2.0 / z)] {
        assert!((counts[i] as f32 / rows as f32 - want).abs() < 2e-3, "{counts:?}");
    }
    // Greedy: ties go to the lowest index, NaN never wins, all -inf gives 0.
    let rows2 = [[1.0f32, 5.0, 5.0, 2.0, f32::NAN, 0.0], [f32::NAN, 1.0, 1.0, 1.0, 1.0, 1.0], [f32::NEG_INFINITY; 6]];
    let flat: Vec<f32> = rows2.iter().flatten().copied().collect();
    let mut tokens = up(&s, &[u32::MAX; 3]);
    g.kernels.sample_tokens(&s, &mut tokens, &mut up(&s, &flat), &up(&s, &[RowSamplingParams::greedy(); 3]), 3, vocab).unwrap();
    assert_eq!(down(&s, &tokens), vec![1, 1, 0]);
}

#[test]
fn launch_wrappers_reject_bad_arguments() {
    let g = gpu_or_skip!("argument checks");
    let s = g.ctx.new_stream().unwrap();
    let x = up(&s, &[bf16::ZERO; 64]);
    let mut small = up(&s, &[bf16::ZERO; 63]);
    let e = g.kernels.rms_norm(&s, &mut small, &x, &x, 1, 64, 1e-5).unwrap_err();
    assert!(matches!(e, CudaKernelError::InvalidArgument { .. }) && e.to_string().contains("`out` has 63"), "{e}");

    let geom = AttentionGeometry { num_q_heads: 4, num_kv_heads: 2, head_dim: 96 };
    let cache = PagedCacheShape { num_blocks: 1, block_size: 16, num_kv_heads: 2, head_dim: 96 };
    let mut ws = DecodeWorkspace::new(&s, 1, &geom, 16).unwrap();
    let big = up(&s, &vec![bf16::ZERO; 1 << 16]);
    let mut out = up(&s, &vec![bf16::ZERO; 1 << 16]);
    let meta = up(&s, &[0u32; 4]);
    let args = DecodeAttentionArgs { num_seqs: 1, geometry: geom, cache, max_blocks_per_seq: 1, max_seq_len: 16, q_stride: 384, out_stride: 384, scale: 0.1 };
    let e = g.kernels.paged_attention_decode(&s, &mut out, &big, &big, &big, &meta, &meta, &mut ws, &args).unwrap_err();
    assert!(e.to_string().contains("head_dim 96"), "{e}");

    let geom = llama3_8b();
    let mut layout = QkvLayout::fused(&geom);
    layout.k_offset = 100; // overlaps q
    let mut qkv = up(&s, &vec![bf16::ZERO; 6144]);
    let args = RopeArgs { num_tokens: 1, geometry: geom, layout, style: RopeStyle::Neox };
    let e = g.kernels.rope(&s, &mut qkv, &up(&s, &[0u32]), &up(&s, &vec![0f32; 64]), &args).unwrap_err();
    assert!(e.to_string().contains("overlap"), "{e}");
}

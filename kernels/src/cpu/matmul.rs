//! `out[m, n] = x[m, k] · W[n, k]ᵀ` over a quantized or dense weight matrix, parallel on the current
//! rayon pool.
//!
//! Modelled on llama.cpp's `ggml_compute_forward_mul_mat`: activations are quantized once per input to
//! the weight type's `vec_dot_type` (Q8_0/Q8_1 blocks for Q8_0/Q4_0/Q4_1, Q8_K for Q4_K/Q6_K) and the
//! quantized forms are cached in [`PreparedActivations`] so several matmuls sharing an input (Q/K/V,
//! gate/up) quantize it once. Work is split into tasks of (weight-row chunk × token block), enough of
//! them to balance the pool and each large enough to amortize scheduling (tiny matrices run inline):
//! - one token (decode): row dots (`dot.rs`) over the task's rows; memory-bandwidth bound.
//! - several tokens (prompt / batched decode): the rows are repacked 8 at a time into an interleaved
//!   tile and a register-blocked micro-kernel computes 8 rows × C tokens per pass (`tile32.rs`, the
//!   idea of llama.cpp's repacked `q4_0x8` GEMM); K-quants run through the same kernel as 32-element
//!   (Q6_K: 16-element) scale blocks.
//!
//! [`ActivationPrecision::F32`] (and dense F32/F16/BF16 weights) dequantizes 4-row tiles to f32 and
//! runs an f32 FMA micro-kernel (`x86.rs`). Without AVX2 a plain reference path runs (row dots /
//! dequantized f32 dots). Cost: O(m·n·k); scratch is per rayon thread and reused (no steady-state
//! allocation).

use std::cell::RefCell;

use rayon::prelude::*;

use super::quant::{self, Q8Activations, Q8KActivations, QK, QK_K};
use super::simd::{isa, Isa};
use super::{dot, WeightMatrix};
use crate::DType;

#[cfg(target_arch = "x86_64")]
mod tile32;
#[cfg(target_arch = "x86_64")]
mod x86;

/// Weight rows per K-quant / f32 micro-kernel tile (the 32-block tiles use 8, see `tile32.rs`).
pub const ROW_TILE: usize = 4;
/// Task row ranges are multiples of this (a whole number of every kind of tile).
const TASK_ROWS: usize = 8;
/// Tokens per task in prompt processing: the block's quantized activations stay in L2 while every row
/// tile of the task streams over them.
const TOKEN_BLOCK: usize = 64;
/// Below this many multiply-adds per task the rayon hand-off costs more than it saves.
const MIN_TASK_MACS: usize = 1 << 17;

/// How activations meet quantized weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ActivationPrecision {
    /// Quantize activations to int8 blocks like llama.cpp (Q8_0 / Q8_1 / Q8_K) and dot in integers.
    #[default]
    Int8,
    /// Dequantize weight blocks and dot in f32 (slower; exact up to f32 rounding).
    F32,
}

/// An input `x [m, k]` plus its quantized forms, built lazily by the first matmul that needs each one
/// and reused by later matmuls on the same input (Q/K/V; gate/up). `set` reuses every buffer, so steady
/// state allocates nothing.
#[derive(Debug, Default)]
pub struct PreparedActivations {
    /// [m, k] the input itself (f32 paths and the source of the quantized forms).
    x: Vec<f32>,
    m: usize,
    k: usize,
    precision: ActivationPrecision,
    /// Q8_0/Q8_1 blocks, for Q8_0 / Q4_0 / Q4_1 weights; valid when `q8_valid`.
    q8: Q8Activations,
    q8_valid: bool,
    /// Q8_K super-blocks, for Q4_K / Q6_K weights; valid when `q8k_valid`.
    q8k: Q8KActivations,
    q8k_valid: bool,
}

impl PreparedActivations {
    /// Empty; call [`PreparedActivations::set`] before use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads `x [m, k]` (row-major) and invalidates the quantized forms. Panics if `x.len() != m·k`.
    pub fn set(&mut self, x: &[f32], m: usize, k: usize, precision: ActivationPrecision) {
        assert_eq!(x.len(), m * k, "PreparedActivations::set: x has {} values, expected {m}×{k}", x.len());
        self.x.clear();
        self.x.extend_from_slice(x);
        self.m = m;
        self.k = k;
        self.precision = precision;
        self.q8_valid = false;
        self.q8k_valid = false;
    }

    /// Tokens (rows of x).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Features per token (columns of x).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Quantizes to Q8_0/Q8_1 blocks if not done yet (parallel over tokens when m is large).
    fn ensure_q8(&mut self, path: Isa) {
        if self.q8_valid {
            return;
        }
        let (m, k) = (self.m, self.k);
        self.q8.resize(m, k);
        let nb = k / QK;
        let q = &mut self.q8;
        let quantize = |(((x, qs), d), (sd, s)): Q8RowMut| quantize_row_q8(path, x, qs, d, sd, s);
        let x = self.x.chunks_exact(k);
        if m >= 32 && rayon::current_num_threads() > 1 {
            self.x
                .par_chunks_exact(k)
                .zip(q.qs.par_chunks_exact_mut(k))
                .zip(q.d.par_chunks_exact_mut(nb))
                .zip(q.sd.par_chunks_exact_mut(nb).zip(q.s.par_chunks_exact_mut(nb)))
                .with_min_len(16)
                .for_each(quantize);
        } else {
            x.zip(q.qs.chunks_exact_mut(k))
                .zip(q.d.chunks_exact_mut(nb))
                .zip(q.sd.chunks_exact_mut(nb).zip(q.s.chunks_exact_mut(nb)))
                .for_each(quantize);
        }
        self.q8_valid = true;
    }

    /// Quantizes to Q8_K super-blocks if not done yet.
    fn ensure_q8k(&mut self) {
        if self.q8k_valid {
            return;
        }
        let (m, k) = (self.m, self.k);
        self.q8k.resize(m, k);
        let q = &mut self.q8k;
        let quantize = |((x, qs), (d, bs)): Q8KRowMut| quant::quantize_row_q8k(x, qs, d, bs);
        if m >= 32 && rayon::current_num_threads() > 1 {
            self.x
                .par_chunks_exact(k)
                .zip(q.qs.par_chunks_exact_mut(k))
                .zip(q.d.par_chunks_exact_mut(k / QK_K).zip(q.bsums.par_chunks_exact_mut(k / 16)))
                .with_min_len(16)
                .for_each(quantize);
        } else {
            self.x
                .chunks_exact(k)
                .zip(q.qs.chunks_exact_mut(k))
                .zip(q.d.chunks_exact_mut(k / QK_K).zip(q.bsums.chunks_exact_mut(k / 16)))
                .for_each(quantize);
        }
        self.q8k.fill_block_terms();
        self.q8k_valid = true;
    }
}

/// One token's input and its Q8_0/Q8_1 outputs: ((x, qs), d), (sd, s).
type Q8RowMut<'a> = (((&'a [f32], &'a mut [i8]), &'a mut [f32]), (&'a mut [f32], &'a mut [f32]));
/// One token's input and its Q8_K outputs: (x, qs), (d, bsums).
type Q8KRowMut<'a> = ((&'a [f32], &'a mut [i8]), (&'a mut [f32], &'a mut [i16]));

/// Q8_0/Q8_1 quantization of one row on `path` (bit-identical to the reference on every path).
fn quantize_row_q8(path: Isa, x: &[f32], qs: &mut [i8], d: &mut [f32], sd: &mut [f32], s: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: AVX2+FMA+F16C detected (path ≥ Avx2); the slices come from one consistent resize.
        return unsafe { x86::quantize_row_q8(x, qs, d, sd, s) };
    }
    let _ = path;
    quant::quantize_row_q8_reference(x, qs, d, sd, s)
}

/// What a task computes with, after the activations are prepared.
#[derive(Clone, Copy)]
pub(crate) enum Plan<'a> {
    /// 32-element int8 blocks (Q8_0 / Q4_0 / Q4_1 weights).
    Q8(&'a Q8Activations),
    /// Q8_K super-blocks (Q4_K / Q6_K weights).
    Q8K(&'a Q8KActivations),
    /// f32 activations against dequantized (or dense) weight rows.
    F32(&'a [f32]),
}

/// `out[m, w.rows] = act · wᵀ` (row-major), quantizing `act` for `w.dtype` on first use.
///
/// Panics only on caller shape bugs: `act.k() != w.cols` or `out.len() != act.m() · w.rows`.
pub fn matmul_prepared(w: &WeightMatrix, act: &mut PreparedActivations, out: &mut [f32]) {
    matmul_prepared_with(isa(), w, act, out)
}

/// [`matmul_prepared`] on an explicit SIMD path (tests and benchmarks compare paths).
pub fn matmul_prepared_with(path: Isa, w: &WeightMatrix, act: &mut PreparedActivations, out: &mut [f32]) {
    let (m, k, n) = (act.m, act.k, w.rows);
    assert_eq!(k, w.cols, "matmul: activations have k = {k}, weight has {} columns", w.cols);
    assert_eq!(out.len(), m * n, "matmul: out has {} values, expected {m}×{n}", out.len());
    assert_eq!(w.data.len(), n * w.row_bytes(), "matmul: weight data has the wrong length for {n}×{k} {}", w.dtype);
    assert!(path <= super::simd::detected_isa(), "matmul: {path:?} is not supported by this CPU");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    let int8 = act.precision == ActivationPrecision::Int8 && w.dtype.is_quantized();
    if int8 {
        match w.dtype {
            DType::Q4K | DType::Q6K => act.ensure_q8k(),
            _ => act.ensure_q8(path),
        }
    }
    let plan = match (int8, w.dtype) {
        (true, DType::Q4K | DType::Q6K) => Plan::Q8K(&act.q8k),
        (true, _) => Plan::Q8(&act.q8),
        (false, _) => Plan::F32(&act.x),
    };
    run_tasks(path, w, plan, m, out);
}

/// Convenience: prepares `x [m, w.cols]` with `precision` and runs [`matmul_prepared`].
pub fn matmul(w: &WeightMatrix, x: &[f32], m: usize, out: &mut [f32], precision: ActivationPrecision) {
    let mut act = PreparedActivations::new();
    act.set(x, m, w.cols, precision);
    matmul_prepared(w, &mut act, out);
}

/// Raw output pointer shared by tasks that write disjoint (row, token) rectangles.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr {
    pub(crate) ptr: *mut f32,
    /// Row stride of `out` (= n).
    pub(crate) n: usize,
}

// SAFETY: tasks write pairwise disjoint elements of `out` (disjoint row ranges or token ranges), and the
// borrow of `out` outlives the parallel region in `run_tasks`.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Writes `out[t, r]`.
    ///
    /// # Safety
    /// `t < m`, `r < n`, and no other task writes this element.
    #[inline]
    pub(crate) unsafe fn write(self, t: usize, r: usize, v: f32) {
        // SAFETY: in bounds and unaliased per the caller's contract.
        unsafe { *self.ptr.add(t * self.n + r) = v }
    }
}

/// Splits the work into tasks and runs them (inline when one task suffices).
fn run_tasks(path: Isa, w: &WeightMatrix, plan: Plan, m: usize, out: &mut [f32]) {
    let (n, k) = (w.rows, w.cols);
    let threads = rayon::current_num_threads().max(1);
    let token_blocks = m.div_ceil(TOKEN_BLOCK);
    let tokens_per_block = m.div_ceil(token_blocks);
    let row_tiles = n.div_ceil(TASK_ROWS);
    let macs = m * n * k;
    // Enough tasks to balance the pool (also when other processes share the cores), each big enough
    // to amortize its scheduling.
    let wanted = (macs / MIN_TASK_MACS).clamp(1, 8 * threads);
    let row_chunks = wanted.div_ceil(token_blocks).clamp(1, row_tiles);
    let tiles_per_chunk = row_tiles.div_ceil(row_chunks);
    let row_chunks = row_tiles.div_ceil(tiles_per_chunk);
    let tasks = row_chunks * token_blocks;
    let dst = OutPtr { ptr: out.as_mut_ptr(), n };
    let task = |i: usize| {
        let (rc, tb) = (i % row_chunks, i / row_chunks);
        let rows = rc * tiles_per_chunk * TASK_ROWS..((rc + 1) * tiles_per_chunk * TASK_ROWS).min(n);
        let toks = tb * tokens_per_block..((tb + 1) * tokens_per_block).min(m);
        SCRATCH.with(|s| run_task(path, w, plan, rows, toks, dst, &mut s.borrow_mut()));
    };
    if tasks == 1 || threads == 1 {
        (0..tasks).for_each(task);
    } else {
        (0..tasks).into_par_iter().for_each(task);
    }
}

/// Per-thread buffers for unpacked weight tiles; grown on demand, never shrunk.
#[derive(Default)]
pub(crate) struct Scratch {
    /// [k/32, 8 groups, 8 rows, 4] interleaved unpacked quants of the current 8-row tile (`tile32.rs`).
    pub(crate) q: Vec<u8>,
    /// [k/32 (·2 for Q6_K), 8] per-row f32 weight scales of each scale block.
    pub(crate) d: Vec<f32>,
    /// [k/32 (·2 for Q6_K), 8] per-row offset/min coefficients of each scale block.
    pub(crate) c: Vec<f32>,
    /// [ROW_TILE, k] dequantized f32 rows (F32 plan).
    pub(crate) f: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Computes `out[toks, rows]`.
fn run_task(path: Isa, w: &WeightMatrix, plan: Plan, rows: std::ops::Range<usize>, toks: std::ops::Range<usize>, dst: OutPtr, scratch: &mut Scratch) {
    #[cfg(target_arch = "x86_64")]
    if path >= Isa::Avx2 {
        // SAFETY: path ≥ Avx2 only when the CPU has the features (asserted in matmul_prepared_with);
        // rows/toks are within w and out, and this task owns out[toks, rows].
        return unsafe { x86::run_task(path, w, plan, rows, toks, dst, scratch) };
    }
    run_task_portable(w, plan, rows, toks, dst, scratch)
}

/// Plain reference tasks: row dots for int8, one dequantized row × every token for f32.
fn run_task_portable(w: &WeightMatrix, plan: Plan, rows: std::ops::Range<usize>, toks: std::ops::Range<usize>, dst: OutPtr, scratch: &mut Scratch) {
    let k = w.cols;
    let p = Isa::Portable;
    scratch.f.resize(k, 0.0);
    for r in rows {
        let row = w.row(r);
        if let Plan::F32(_) = plan {
            quant::dequantize_row(w.dtype, row, &mut scratch.f);
        }
        for t in toks.clone() {
            let v = match plan {
                Plan::Q8(a) => match w.dtype {
                    DType::Q8_0 => dot::dot_q8_0(p, row, a.row(t)),
                    DType::Q4_0 => dot::dot_q4_0(p, row, a.row(t)),
                    _ => dot::dot_q4_1(p, row, a.row(t)),
                },
                Plan::Q8K(a) => match w.dtype {
                    DType::Q4K => dot::dot_q4k(p, row, a.row(t)),
                    _ => dot::dot_q6k(p, row, a.row(t)),
                },
                Plan::F32(x) => super::vec_ops::dot_f32_reference(&scratch.f, &x[t * k..(t + 1) * k]),
            };
            // SAFETY: t < m, r < n, and this task owns out[toks, rows].
            unsafe { dst.write(t, r, v) };
        }
    }
}

#[cfg(test)]
mod tests;

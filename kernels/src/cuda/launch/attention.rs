//! Launch wrappers of paged_attention.cu: split-KV decode (+ merge) and flash-style prefill.
//!
//! Which to use: a batch where every sequence has exactly one new token (steady-state decode, the
//! CUDA-graph case) → [`CudaKernels::paged_attention_decode`]; anything else (prefill, chunked prefill,
//! prefix-cache hits, mixed batches) → [`CudaKernels::paged_attention_prefill`], which is correct for
//! any query length including 1. A mixed batch ordered decodes-first can also run the decode kernel
//! on views of its first rows and the prefill kernel on the rest.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};
use half::bf16;

use super::{as_i32, check_aligned16, check_len, check_stream, grid_dim, launch_error, strided_need, CudaKernels, GRID_YZ_MAX};
use crate::cuda::error::CudaKernelError;
use crate::cuda::shapes::{decode_num_splits, AttentionGeometry, PagedCacheShape, ATTENTION_HEAD_DIMS, MAX_PREFILL_GROUP, PREFILL_TILE_ROWS};
use crate::cuda::sources::{decode_group_bound, decode_kernel_name, prefill_kernel_name};

/// Sizes of a decode attention launch (one query token per sequence).
#[derive(Clone, Copy, Debug)]
pub struct DecodeAttentionArgs {
    pub num_seqs: usize,
    pub geometry: AttentionGeometry,
    pub cache: PagedCacheShape,
    /// Row width of `block_tables`.
    pub max_blocks_per_seq: usize,
    /// Upper bound of every `seq_lens` entry (max_model_len under CUDA graphs): fixes the number of
    /// splits, `ceil(max_seq_len / DECODE_SPLIT_SIZE)`. A longer sequence would attend only to its
    /// first `max_splits * DECODE_SPLIT_SIZE` tokens.
    pub max_seq_len: usize,
    /// Elements between consecutive sequences' q rows (multiple of 8).
    pub q_stride: usize,
    /// Elements between consecutive sequences' output rows.
    pub out_stride: usize,
    /// Usually `geometry.scale()` = 1/sqrt(head_dim).
    pub scale: f32,
}

impl DecodeAttentionArgs {
    pub fn max_splits(&self) -> usize {
        decode_num_splits(self.max_seq_len)
    }
}

/// Sizes of a prefill attention launch.
#[derive(Clone, Copy, Debug)]
pub struct PrefillAttentionArgs {
    pub num_seqs: usize,
    /// Rows of `q` / `out` (the flattened batch).
    pub num_tokens: usize,
    /// Upper bound of every sequence's query length (fixes the grid; longer queries would be cut).
    pub max_query_len: usize,
    pub geometry: AttentionGeometry,
    pub cache: PagedCacheShape,
    pub max_blocks_per_seq: usize,
    /// Elements between consecutive token rows of q (multiple of 8).
    pub q_stride: usize,
    /// Elements between consecutive token rows of out (multiple of 8).
    pub out_stride: usize,
    pub scale: f32,
}

/// fp32 scratch of the decode kernel's per-split partial results.
pub struct DecodeWorkspace {
    /// `[num_seqs, num_q_heads, max_splits, head_dim]`: each split's output, normalized by its own sum.
    part_o: CudaSlice<f32>,
    /// `[num_seqs, num_q_heads, max_splits]`: each split's max score.
    part_m: CudaSlice<f32>,
    /// `[num_seqs, num_q_heads, max_splits]`: each split's sum of exp(score - max).
    part_l: CudaSlice<f32>,
}

impl DecodeWorkspace {
    /// Scratch for up to `max_num_seqs` sequences of up to `max_seq_len` tokens.
    pub fn new(stream: &Arc<CudaStream>, max_num_seqs: usize, geometry: &AttentionGeometry, max_seq_len: usize) -> Result<DecodeWorkspace, CudaKernelError> {
        let stats = max_num_seqs * geometry.num_q_heads * decode_num_splits(max_seq_len);
        let alloc = |n: usize| stream.alloc_zeros::<f32>(n.max(1)).map_err(CudaKernelError::driver("allocating the decode workspace"));
        Ok(DecodeWorkspace { part_o: alloc(stats * geometry.head_dim)?, part_m: alloc(stats)?, part_l: alloc(stats)? })
    }
}

/// Checks shared by both attention kernels; returns the group size.
fn check_common(
    kernel: &'static str,
    g: &AttentionGeometry,
    cache: &PagedCacheShape,
    q_stride: usize,
    out_stride: usize,
    max_group: usize,
) -> Result<usize, CudaKernelError> {
    let d = g.head_dim;
    if !ATTENTION_HEAD_DIMS.contains(&d) {
        return Err(CudaKernelError::invalid(kernel, format!("head_dim {d} has no kernel (supported: {ATTENTION_HEAD_DIMS:?})")));
    }
    let group = g.group_size();
    if group == 0 || group > max_group {
        return Err(CudaKernelError::invalid(
            kernel,
            format!("{} q heads / {} kv heads: the group must be a whole number in 1..={max_group}", g.num_q_heads, g.num_kv_heads),
        ));
    }
    if cache.num_kv_heads != g.num_kv_heads || cache.head_dim != d {
        return Err(CudaKernelError::invalid(
            kernel,
            format!("cache has {} kv heads × {}, attention {} × {d}", cache.num_kv_heads, cache.head_dim, g.num_kv_heads),
        ));
    }
    if cache.block_size == 0 {
        return Err(CudaKernelError::invalid(kernel, "block_size must be positive"));
    }
    if !q_stride.is_multiple_of(8) || !out_stride.is_multiple_of(8) || q_stride < g.q_width() || out_stride < g.q_width() {
        return Err(CudaKernelError::invalid(
            kernel,
            format!("q_stride {q_stride} and out_stride {out_stride} must be multiples of 8 and at least {}", g.q_width()),
        ));
    }
    Ok(group)
}

impl CudaKernels {
    /// Decode attention: sequence `s`'s single query row (`q[s * q_stride ..]`, all q heads) attends to
    /// its `seq_lens[s]` cached tokens (the new token's K/V already written by `reshape_and_cache`)
    /// through `block_tables[s * max_blocks_per_seq ..]`; the result goes to `out[s * out_stride ..]`.
    /// Launches the split kernel and the merge kernel. `seq_lens[s] == 0` gives a zero row (padding).
    #[allow(clippy::too_many_arguments)]
    pub fn paged_attention_decode(
        &self,
        stream: &CudaStream,
        out: &mut impl DevicePtrMut<bf16>,
        q: &impl DevicePtr<bf16>,
        k_cache: &impl DevicePtr<bf16>,
        v_cache: &impl DevicePtr<bf16>,
        block_tables: &impl DevicePtr<u32>,
        seq_lens: &impl DevicePtr<u32>,
        workspace: &mut DecodeWorkspace,
        args: &DecodeAttentionArgs,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "paged_attention_decode";
        check_stream(self, K, stream)?;
        let a = *args;
        let g = a.geometry;
        let group = check_common(K, &g, &a.cache, a.q_stride, a.out_stride, crate::cuda::shapes::MAX_DECODE_GROUP)?;
        let max_splits = a.max_splits();
        let stats = a.num_seqs * g.num_q_heads * max_splits;
        check_len(K, "q", q, strided_need(a.num_seqs, a.q_stride, 0, g.q_width()))?;
        check_len(K, "out", out, strided_need(a.num_seqs, a.out_stride, 0, g.q_width()))?;
        check_len(K, "k_cache", k_cache, a.cache.elems())?;
        check_len(K, "v_cache", v_cache, a.cache.elems())?;
        check_len(K, "block_tables", block_tables, a.num_seqs * a.max_blocks_per_seq)?;
        check_len(K, "seq_lens", seq_lens, a.num_seqs)?;
        check_len(K, "workspace.part_o", &workspace.part_o, stats * g.head_dim)?;
        check_len(K, "workspace.part_m", &workspace.part_m, stats)?;
        check_len(K, "workspace.part_l", &workspace.part_l, stats)?;
        if a.num_seqs == 0 {
            return Ok(());
        }
        let split_cfg = LaunchConfig {
            grid_dim: (
                grid_dim(K, "num_kv_heads", g.num_kv_heads, GRID_YZ_MAX)?,
                grid_dim(K, "num_seqs", a.num_seqs, GRID_YZ_MAX)?,
                grid_dim(K, "max_splits", max_splits, GRID_YZ_MAX)?,
            ),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        let merge_cfg = LaunchConfig {
            grid_dim: (grid_dim(K, "num_q_heads", g.num_q_heads, GRID_YZ_MAX)?, grid_dim(K, "num_seqs", a.num_seqs, GRID_YZ_MAX)?, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        let nq = as_i32(K, "num_q_heads", g.num_q_heads)?;
        let nkv = as_i32(K, "num_kv_heads", g.num_kv_heads)?;
        let hd = as_i32(K, "head_dim", g.head_dim)?;
        let q_stride = as_i32(K, "q_stride", a.q_stride)?;
        let out_stride = as_i32(K, "out_stride", a.out_stride)?;
        let bs = as_i32(K, "block_size", a.cache.block_size)?;
        let mbps = as_i32(K, "max_blocks_per_seq", a.max_blocks_per_seq)?;
        let nblocks = as_i32(K, "num_blocks", a.cache.num_blocks)?;
        let splits = as_i32(K, "max_splits", max_splits)?;
        as_i32(K, "num_seqs * num_q_heads * max_splits * head_dim", stats * g.head_dim)?;
        let name = decode_kernel_name(g.head_dim, decode_group_bound(group).unwrap_or(8));
        let f = self.function(K, &name)?;
        let merge = self.function(K, "paged_attention_merge")?;

        let (out_p, _g0) = out.device_ptr_mut(stream);
        let (po, _g1) = workspace.part_o.device_ptr_mut(stream);
        let (pm, _g2) = workspace.part_m.device_ptr_mut(stream);
        let (pl, _g3) = workspace.part_l.device_ptr_mut(stream);
        let (q_p, _g4) = q.device_ptr(stream);
        let (kc, _g5) = k_cache.device_ptr(stream);
        let (vc, _g6) = v_cache.device_ptr(stream);
        let (bt, _g7) = block_tables.device_ptr(stream);
        let (sl, _g8) = seq_lens.device_ptr(stream);
        check_aligned16(K, "q", q_p)?;
        check_aligned16(K, "k_cache", kc)?;
        check_aligned16(K, "v_cache", vc)?;
        let mut b = stream.launch_builder(f);
        b.arg(&out_p).arg(&po).arg(&pm).arg(&pl).arg(&q_p).arg(&kc).arg(&vc).arg(&bt).arg(&sl);
        b.arg(&nq).arg(&nkv).arg(&q_stride).arg(&out_stride).arg(&bs).arg(&mbps).arg(&nblocks).arg(&splits).arg(&a.scale);
        // SAFETY: args match `paged_attention_decode_d{D}_g{G}` (paged_attention.cu); the kernel
        // instantiation has D = head_dim and G >= the group; q, out, caches, block tables, seq_lens and
        // the workspace hold what the grid indexes (checked above); q and the caches are 16-byte aligned
        // with 16-byte-multiple rows (q_stride % 8 == 0, head_dim % 8 == 0) for the vector loads; seq_lens
        // are clamped and block ids bounds-checked in the kernel.
        unsafe { b.launch(split_cfg) }.map_err(launch_error(K))?;
        let mut b = stream.launch_builder(merge);
        b.arg(&out_p).arg(&po).arg(&pm).arg(&pl).arg(&sl).arg(&nq).arg(&hd).arg(&out_stride).arg(&bs).arg(&mbps).arg(&splits);
        // SAFETY: args match `paged_attention_merge`; it reads the partials written above for the same
        // sizes and writes out rows within the checked bounds.
        unsafe { b.launch(merge_cfg) }.map_err(launch_error("paged_attention_merge"))?;
        Ok(())
    }

    /// Prefill attention over the flattened batch: sequence `s` owns token rows
    /// `[query_start_loc[s], query_start_loc[s + 1])` of `q` / `out`, has `seq_lens[s]` tokens of context
    /// in the cache (cached + new, the new ones already written by `reshape_and_cache`), and its query
    /// `i` attends causally to keys `0 ..= seq_lens[s] - query_len + i`.
    #[allow(clippy::too_many_arguments)]
    pub fn paged_attention_prefill(
        &self,
        stream: &CudaStream,
        out: &mut impl DevicePtrMut<bf16>,
        q: &impl DevicePtr<bf16>,
        k_cache: &impl DevicePtr<bf16>,
        v_cache: &impl DevicePtr<bf16>,
        query_start_loc: &impl DevicePtr<u32>,
        seq_lens: &impl DevicePtr<u32>,
        block_tables: &impl DevicePtr<u32>,
        args: &PrefillAttentionArgs,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "paged_attention_prefill";
        check_stream(self, K, stream)?;
        let a = *args;
        let g = a.geometry;
        let group = check_common(K, &g, &a.cache, a.q_stride, a.out_stride, MAX_PREFILL_GROUP)?;
        check_len(K, "q", q, strided_need(a.num_tokens, a.q_stride, 0, g.q_width()))?;
        check_len(K, "out", out, strided_need(a.num_tokens, a.out_stride, 0, g.q_width()))?;
        check_len(K, "k_cache", k_cache, a.cache.elems())?;
        check_len(K, "v_cache", v_cache, a.cache.elems())?;
        check_len(K, "query_start_loc", query_start_loc, a.num_seqs + 1)?;
        check_len(K, "seq_lens", seq_lens, a.num_seqs)?;
        check_len(K, "block_tables", block_tables, a.num_seqs * a.max_blocks_per_seq)?;
        if a.num_seqs == 0 || a.num_tokens == 0 || a.max_query_len == 0 {
            return Ok(());
        }
        let tokens_per_tile = PREFILL_TILE_ROWS / group;
        let cfg = LaunchConfig {
            grid_dim: (
                grid_dim(K, "query tiles", a.max_query_len.div_ceil(tokens_per_tile), super::GRID_X_MAX)?,
                grid_dim(K, "num_kv_heads", g.num_kv_heads, GRID_YZ_MAX)?,
                grid_dim(K, "num_seqs", a.num_seqs, GRID_YZ_MAX)?,
            ),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        let ints = [
            as_i32(K, "num_tokens", a.num_tokens)?,
            as_i32(K, "num_q_heads", g.num_q_heads)?,
            as_i32(K, "num_kv_heads", g.num_kv_heads)?,
            as_i32(K, "q_stride", a.q_stride)?,
            as_i32(K, "out_stride", a.out_stride)?,
            as_i32(K, "block_size", a.cache.block_size)?,
            as_i32(K, "max_blocks_per_seq", a.max_blocks_per_seq)?,
            as_i32(K, "num_blocks", a.cache.num_blocks)?,
        ];
        let f = self.function(K, &prefill_kernel_name(g.head_dim))?;
        let (out_p, _g0) = out.device_ptr_mut(stream);
        let (q_p, _g1) = q.device_ptr(stream);
        let (kc, _g2) = k_cache.device_ptr(stream);
        let (vc, _g3) = v_cache.device_ptr(stream);
        let (qsl, _g4) = query_start_loc.device_ptr(stream);
        let (sl, _g5) = seq_lens.device_ptr(stream);
        let (bt, _g6) = block_tables.device_ptr(stream);
        check_aligned16(K, "out", out_p)?;
        check_aligned16(K, "q", q_p)?;
        check_aligned16(K, "k_cache", kc)?;
        check_aligned16(K, "v_cache", vc)?;
        let mut b = stream.launch_builder(f);
        b.arg(&out_p).arg(&q_p).arg(&kc).arg(&vc).arg(&qsl).arg(&sl).arg(&bt);
        for v in &ints {
            b.arg(v);
        }
        b.arg(&a.scale);
        // SAFETY: args match `paged_attention_prefill_d{D}` (paged_attention.cu) with D = head_dim; q, out,
        // caches and metadata hold what the grid indexes (checked above); q, out and the caches are 16-byte
        // aligned with 16-byte-multiple rows for the vector loads/stores; token rows from query_start_loc
        // are clamped to num_tokens, contexts to the block table, block ids checked, in the kernel.
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }
}

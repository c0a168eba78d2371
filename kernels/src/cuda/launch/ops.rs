//! Launch wrappers of the element-wise and row-wise kernels: embedding.cu, rmsnorm.cu, rope.cu,
//! kv_cache.cu, activation.cu. Shapes and grids as documented in those files.

use cudarc::driver::{CudaStream, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};
use half::bf16;

use super::{as_i32, check_len, check_stream, grid_dim, launch_error, strided_need, CudaKernels, GRID_X_MAX, GRID_YZ_MAX};
use crate::cuda::error::CudaKernelError;
use crate::cuda::shapes::{AttentionGeometry, PagedCacheShape, QkvLayout, RopeStyle, MAX_ROPE_HEAD_DIM};

/// Sizes of a RoPE launch.
#[derive(Clone, Copy, Debug)]
pub struct RopeArgs {
    pub num_tokens: usize,
    pub geometry: AttentionGeometry,
    /// Where q and k sit in the `qkv` rows (v is not touched).
    pub layout: QkvLayout,
    pub style: RopeStyle,
}

/// Sizes of a KV-cache write.
#[derive(Clone, Copy, Debug)]
pub struct CacheWriteArgs {
    pub num_tokens: usize,
    pub cache: PagedCacheShape,
    /// Elements between consecutive token rows of `key` / `value` (the fused QKV row width when they
    /// are views into it).
    pub key_stride: usize,
    pub value_stride: usize,
}

fn one_dim(grid: u32, block: u32) -> LaunchConfig {
    LaunchConfig { grid_dim: (grid, 1, 1), block_dim: (block, 1, 1), shared_mem_bytes: 0 }
}

impl CudaKernels {
    /// `out[t] = table[ids[t]]` for `t < num_tokens`; `out` `[num_tokens, hidden]`, `table`
    /// `[vocab, hidden]`, `ids` `[num_tokens]`. An id >= vocab gives a zero row and sets `invalid[0] = 1`
    /// (sticky; reset it on the host to re-arm).
    #[allow(clippy::too_many_arguments)]
    pub fn embedding(
        &self,
        stream: &CudaStream,
        out: &mut impl DevicePtrMut<bf16>,
        table: &impl DevicePtr<bf16>,
        ids: &impl DevicePtr<u32>,
        invalid: &mut impl DevicePtrMut<u32>,
        num_tokens: usize,
        hidden: usize,
        vocab: usize,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "embedding_gather";
        check_stream(self, K, stream)?;
        check_len(K, "out", out, num_tokens * hidden)?;
        check_len(K, "table", table, vocab * hidden)?;
        check_len(K, "ids", ids, num_tokens)?;
        check_len(K, "invalid", invalid, 1)?;
        if num_tokens == 0 {
            return Ok(());
        }
        let cfg = one_dim(grid_dim(K, "num_tokens", num_tokens, GRID_X_MAX)?, 256);
        let (n, h, v) = (as_i32(K, "num_tokens", num_tokens)?, as_i32(K, "hidden", hidden)?, as_i32(K, "vocab", vocab)?);
        let f = self.function(K, K)?;
        let (out_p, _g0) = out.device_ptr_mut(stream);
        let (table_p, _g1) = table.device_ptr(stream);
        let (ids_p, _g2) = ids.device_ptr(stream);
        let (inv_p, _g3) = invalid.device_ptr_mut(stream);
        let mut b = stream.launch_builder(f);
        b.arg(&out_p).arg(&table_p).arg(&ids_p).arg(&inv_p).arg(&n).arg(&h).arg(&v);
        // SAFETY: args match `embedding_gather(bf16*, const bf16*, const u32*, u32*, int, int, int)`; out,
        // table, ids and invalid hold the elements the kernel indexes for these sizes (checked above); ids
        // are bounds-checked against vocab in the kernel.
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }

    /// `out = rmsnorm(x) * weight` row by row; `out`, `x` `[num_rows, hidden]`, `weight` `[hidden]`.
    #[allow(clippy::too_many_arguments)]
    pub fn rms_norm(
        &self,
        stream: &CudaStream,
        out: &mut impl DevicePtrMut<bf16>,
        x: &impl DevicePtr<bf16>,
        weight: &impl DevicePtr<bf16>,
        num_rows: usize,
        hidden: usize,
        eps: f32,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "rms_norm";
        check_stream(self, K, stream)?;
        check_len(K, "out", out, num_rows * hidden)?;
        check_len(K, "x", x, num_rows * hidden)?;
        check_len(K, "weight", weight, hidden)?;
        if num_rows == 0 {
            return Ok(());
        }
        let cfg = one_dim(grid_dim(K, "num_rows", num_rows, GRID_X_MAX)?, 256);
        let (n, h) = (as_i32(K, "num_rows", num_rows)?, as_i32(K, "hidden", hidden)?);
        let f = self.function(K, K)?;
        let (out_p, _g0) = out.device_ptr_mut(stream);
        let (x_p, _g1) = x.device_ptr(stream);
        let (w_p, _g2) = weight.device_ptr(stream);
        let mut b = stream.launch_builder(f);
        b.arg(&out_p).arg(&x_p).arg(&w_p).arg(&n).arg(&h).arg(&eps);
        // SAFETY: args match `rms_norm(bf16*, const bf16*, const bf16*, int, int, float)`; the buffers hold
        // num_rows * hidden (out, x) and hidden (weight) elements (checked above).
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }

    /// `residual += x` (rounded to bf16, in place), then `out = rmsnorm(residual) * weight`; all row
    /// buffers `[num_rows, hidden]`, `weight` `[hidden]`.
    #[allow(clippy::too_many_arguments)]
    pub fn fused_add_rms_norm(
        &self,
        stream: &CudaStream,
        out: &mut impl DevicePtrMut<bf16>,
        residual: &mut impl DevicePtrMut<bf16>,
        x: &impl DevicePtr<bf16>,
        weight: &impl DevicePtr<bf16>,
        num_rows: usize,
        hidden: usize,
        eps: f32,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "fused_add_rms_norm";
        check_stream(self, K, stream)?;
        check_len(K, "out", out, num_rows * hidden)?;
        check_len(K, "residual", residual, num_rows * hidden)?;
        check_len(K, "x", x, num_rows * hidden)?;
        check_len(K, "weight", weight, hidden)?;
        if num_rows == 0 {
            return Ok(());
        }
        let cfg = one_dim(grid_dim(K, "num_rows", num_rows, GRID_X_MAX)?, 256);
        let (n, h) = (as_i32(K, "num_rows", num_rows)?, as_i32(K, "hidden", hidden)?);
        let f = self.function(K, K)?;
        let (out_p, _g0) = out.device_ptr_mut(stream);
        let (res_p, _g1) = residual.device_ptr_mut(stream);
        let (x_p, _g2) = x.device_ptr(stream);
        let (w_p, _g3) = weight.device_ptr(stream);
        let mut b = stream.launch_builder(f);
        b.arg(&out_p).arg(&res_p).arg(&x_p).arg(&w_p).arg(&n).arg(&h).arg(&eps);
        // SAFETY: args match `fused_add_rms_norm(bf16*, bf16*, const bf16*, const bf16*, int, int, float)`;
        // sizes checked above; out and residual are distinct (two &mut borrows).
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }

    /// Rotates the q and k heads of `qkv` in place by `positions[t] * inv_freq[i]`. `positions`
    /// `[num_tokens]`, `inv_freq` `[head_dim / 2]` (llama3 scaling folded in on the host).
    pub fn rope(
        &self,
        stream: &CudaStream,
        qkv: &mut impl DevicePtrMut<bf16>,
        positions: &impl DevicePtr<u32>,
        inv_freq: &impl DevicePtr<f32>,
        args: &RopeArgs,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "rope_inplace";
        check_stream(self, K, stream)?;
        let RopeArgs { num_tokens, geometry: g, layout: l, style } = *args;
        let d = g.head_dim;
        if d == 0 || d % 2 != 0 || d > MAX_ROPE_HEAD_DIM {
            return Err(CudaKernelError::invalid(K, format!("head_dim {d} must be even and at most {MAX_ROPE_HEAD_DIM}")));
        }
        let (q_end, k_end) = (l.q_offset + g.q_width(), l.k_offset + g.kv_width());
        if q_end.max(k_end) > l.row_stride {
            return Err(CudaKernelError::invalid(K, format!("q ends at {q_end}, k at {k_end}: past the row stride {}", l.row_stride)));
        }
        if g.num_q_heads > 0 && g.num_kv_heads > 0 && l.q_offset < k_end && l.k_offset < q_end {
            return Err(CudaKernelError::invalid(K, "the q and k regions of a row overlap"));
        }
        check_len(K, "qkv", qkv, strided_need(num_tokens, l.row_stride, 0, q_end.max(k_end)))?;
        check_len(K, "positions", positions, num_tokens)?;
        check_len(K, "inv_freq", inv_freq, d / 2)?;
        if num_tokens == 0 || g.num_q_heads + g.num_kv_heads == 0 {
            return Ok(());
        }
        let cfg = one_dim(grid_dim(K, "num_tokens", num_tokens, GRID_X_MAX)?, 128);
        let ints = [
            as_i32(K, "num_tokens", num_tokens)?,
            as_i32(K, "num_q_heads", g.num_q_heads)?,
            as_i32(K, "num_kv_heads", g.num_kv_heads)?,
            as_i32(K, "head_dim", d)?,
            as_i32(K, "row_stride", l.row_stride)?,
            as_i32(K, "q_offset", l.q_offset)?,
            as_i32(K, "k_offset", l.k_offset)?,
            style as i32,
        ];
        let f = self.function(K, K)?;
        let (qkv_p, _g0) = qkv.device_ptr_mut(stream);
        let (pos_p, _g1) = positions.device_ptr(stream);
        let (inv_p, _g2) = inv_freq.device_ptr(stream);
        let mut b = stream.launch_builder(f);
        b.arg(&qkv_p).arg(&pos_p).arg(&inv_p);
        for v in &ints {
            b.arg(v);
        }
        // SAFETY: args match `rope_inplace(bf16*, const u32*, const float*, int x8)`; qkv holds every row's
        // q and k heads, positions num_tokens and inv_freq head_dim/2 elements (checked above); head_dim
        // fits the kernel's shared cos/sin table; q and k regions are disjoint so no element is rotated by
        // two threads.
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }

    /// Writes token `t`'s K and V rows into `k_cache` / `v_cache` at `slot_mapping[t]` (negative =
    /// padding, skipped). `key` / `value`: row `t` at `t * key_stride`, `num_kv_heads * head_dim` wide.
    #[allow(clippy::too_many_arguments)]
    pub fn reshape_and_cache(
        &self,
        stream: &CudaStream,
        k_cache: &mut impl DevicePtrMut<bf16>,
        v_cache: &mut impl DevicePtrMut<bf16>,
        key: &impl DevicePtr<bf16>,
        value: &impl DevicePtr<bf16>,
        slot_mapping: &impl DevicePtr<i32>,
        args: &CacheWriteArgs,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "reshape_and_cache";
        check_stream(self, K, stream)?;
        let CacheWriteArgs { num_tokens, cache, key_stride, value_stride } = *args;
        let width = cache.row_width();
        check_len(K, "k_cache", k_cache, cache.elems())?;
        check_len(K, "v_cache", v_cache, cache.elems())?;
        check_len(K, "key", key, strided_need(num_tokens, key_stride, 0, width))?;
        check_len(K, "value", value, strided_need(num_tokens, value_stride, 0, width))?;
        check_len(K, "slot_mapping", slot_mapping, num_tokens)?;
        if num_tokens == 0 || width == 0 {
            return Ok(());
        }
        let cfg = one_dim(grid_dim(K, "num_tokens", num_tokens, GRID_X_MAX)?, 128);
        let ints = [
            as_i32(K, "num_tokens", num_tokens)?,
            as_i32(K, "num_slots", cache.num_slots())?,
            as_i32(K, "num_kv_heads", cache.num_kv_heads)?,
            as_i32(K, "head_dim", cache.head_dim)?,
            as_i32(K, "key_stride", key_stride)?,
            as_i32(K, "value_stride", value_stride)?,
        ];
        let f = self.function(K, K)?;
        let (kc, _g0) = k_cache.device_ptr_mut(stream);
        let (vc, _g1) = v_cache.device_ptr_mut(stream);
        let (kp, _g2) = key.device_ptr(stream);
        let (vp, _g3) = value.device_ptr(stream);
        let (sp, _g4) = slot_mapping.device_ptr(stream);
        let mut b = stream.launch_builder(f);
        b.arg(&kc).arg(&vc).arg(&kp).arg(&vp).arg(&sp);
        for v in &ints {
            b.arg(v);
        }
        // SAFETY: args match `reshape_and_cache(bf16*, bf16*, const bf16*, const bf16*, const int*, int x6)`;
        // the caches hold num_slots rows and key/value num_tokens strided rows (checked above); slots are
        // bounds-checked against num_slots in the kernel.
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }

    /// `out[t, i] = silu(gate_up[t, i]) * gate_up[t, ffn + i]`; `out` `[num_tokens, ffn]`, `gate_up`
    /// `[num_tokens, 2 * ffn]`.
    pub fn silu_and_mul(
        &self,
        stream: &CudaStream,
        out: &mut impl DevicePtrMut<bf16>,
        gate_up: &impl DevicePtr<bf16>,
        num_tokens: usize,
        ffn: usize,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "silu_and_mul";
        check_stream(self, K, stream)?;
        check_len(K, "out", out, num_tokens * ffn)?;
        check_len(K, "gate_up", gate_up, num_tokens * 2 * ffn)?;
        if num_tokens == 0 || ffn == 0 {
            return Ok(());
        }
        let cfg = LaunchConfig {
            grid_dim: (
                grid_dim(K, "num_tokens", num_tokens, GRID_X_MAX)?,
                grid_dim(K, "ffn / 2048", ffn.div_ceil(8 * 256), GRID_YZ_MAX)?,
                1,
            ),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let (n, fw) = (as_i32(K, "num_tokens", num_tokens)?, as_i32(K, "2 * ffn", 2 * ffn)? / 2);
        let f = self.function(K, K)?;
        let (out_p, _g0) = out.device_ptr_mut(stream);
        let (in_p, _g1) = gate_up.device_ptr(stream);
        let mut b = stream.launch_builder(f);
        b.arg(&out_p).arg(&in_p).arg(&n).arg(&fw);
        // SAFETY: args match `silu_and_mul(bf16*, const bf16*, int, int)`; out holds num_tokens * ffn and
        // gate_up num_tokens * 2 * ffn elements (checked above); the grid covers every 8-element chunk.
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }
}

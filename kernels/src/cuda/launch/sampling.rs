//! Launch wrappers of sampling.cu. A sampling step on the device:
//! `apply_penalties` (if any row has penalties) → `apply_logit_bias` (if any bias) → `sample_tokens`,
//! then copy `tokens` (one u32 per row) to the host. The host builds the per-row
//! [`RowSamplingParams`] (with the row's uniform random number drawn from the request's seed and
//! output index) and the sparse penalty / bias lists.

use cudarc::driver::{CudaStream, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};

use super::{as_i32, check_len, check_stream, grid_dim, launch_error, CudaKernels, GRID_X_MAX};
use crate::cuda::error::CudaKernelError;
use crate::cuda::shapes::{LogitBiasEntry, PenaltyEntry, RowSamplingParams};

fn entries_cfg(kernel: &'static str, n: usize) -> Result<LaunchConfig, CudaKernelError> {
    Ok(LaunchConfig { grid_dim: (grid_dim(kernel, "entries / 256", n.div_ceil(256), GRID_X_MAX)?, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 })
}

impl CudaKernels {
    /// Repetition, frequency and presence penalties on `logits` `[num_rows, vocab]` (f32, in place) for
    /// the first `num_entries` of `entries` (one per distinct (row, token) seen in the row's prompt or
    /// output), with each row's penalties from `params` `[num_rows]`.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_penalties(
        &self,
        stream: &CudaStream,
        logits: &mut impl DevicePtrMut<f32>,
        params: &impl DevicePtr<RowSamplingParams>,
        entries: &impl DevicePtr<PenaltyEntry>,
        num_entries: usize,
        num_rows: usize,
        vocab: usize,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "apply_penalties";
        check_stream(self, K, stream)?;
        check_len(K, "logits", logits, num_rows * vocab)?;
        check_len(K, "params", params, num_rows)?;
        check_len(K, "entries", entries, num_entries)?;
        if num_entries == 0 || num_rows == 0 {
            return Ok(());
        }
        let cfg = entries_cfg(K, num_entries)?;
        let (ne, nr, v) = (as_i32(K, "num_entries", num_entries)?, as_i32(K, "num_rows", num_rows)?, as_i32(K, "vocab", vocab)?);
        let f = self.function(K, K)?;
        let (l, _g0) = logits.device_ptr_mut(stream);
        let (p, _g1) = params.device_ptr(stream);
        let (e, _g2) = entries.device_ptr(stream);
        let mut b = stream.launch_builder(f);
        b.arg(&l).arg(&p).arg(&e).arg(&ne).arg(&nr).arg(&v);
        // SAFETY: args match `apply_penalties(float*, const RowSamplingParams*, const PenaltyEntry*, int,
        // int, int)` (struct layouts shared with shapes.rs); sizes checked above; each entry's row and
        // token are bounds-checked in the kernel.
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }

    /// Adds the first `num_entries` biases of `entries` to `logits` `[num_rows, vocab]` (f32, in place).
    #[allow(clippy::too_many_arguments)]
    pub fn apply_logit_bias(
        &self,
        stream: &CudaStream,
        logits: &mut impl DevicePtrMut<f32>,
        entries: &impl DevicePtr<LogitBiasEntry>,
        num_entries: usize,
        num_rows: usize,
        vocab: usize,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "apply_logit_bias";
        check_stream(self, K, stream)?;
        check_len(K, "logits", logits, num_rows * vocab)?;
        check_len(K, "entries", entries, num_entries)?;
        if num_entries == 0 || num_rows == 0 {
            return Ok(());
        }
        let cfg = entries_cfg(K, num_entries)?;
        let (ne, nr, v) = (as_i32(K, "num_entries", num_entries)?, as_i32(K, "num_rows", num_rows)?, as_i32(K, "vocab", vocab)?);
        let f = self.function(K, K)?;
        let (l, _g0) = logits.device_ptr_mut(stream);
        let (e, _g1) = entries.device_ptr(stream);
        let mut b = stream.launch_builder(f);
        b.arg(&l).arg(&e).arg(&ne).arg(&nr).arg(&v);
        // SAFETY: args match `apply_logit_bias(float*, const LogitBiasEntry*, int, int, int)`; sizes checked
        // above; rows and tokens are bounds-checked in the kernel.
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }

    /// Picks one token per row of the processed `logits` `[num_rows, vocab]` into `tokens`
    /// `[num_rows]`: greedy where `temperature == 0`, else min-p / top-k / top-p truncation and a draw
    /// with the row's `uniform`. Sampled rows' logits are overwritten with their unnormalized weights.
    pub fn sample_tokens(
        &self,
        stream: &CudaStream,
        tokens: &mut impl DevicePtrMut<u32>,
        logits: &mut impl DevicePtrMut<f32>,
        params: &impl DevicePtr<RowSamplingParams>,
        num_rows: usize,
        vocab: usize,
    ) -> Result<(), CudaKernelError> {
        const K: &str = "sample_tokens";
        check_stream(self, K, stream)?;
        check_len(K, "tokens", tokens, num_rows)?;
        check_len(K, "logits", logits, num_rows * vocab)?;
        check_len(K, "params", params, num_rows)?;
        if num_rows == 0 {
            return Ok(());
        }
        if vocab == 0 {
            return Err(CudaKernelError::invalid(K, "vocab must be positive"));
        }
        let cfg = LaunchConfig { grid_dim: (grid_dim(K, "num_rows", num_rows, GRID_X_MAX)?, 1, 1), block_dim: (1024, 1, 1), shared_mem_bytes: 0 };
        let (nr, v) = (as_i32(K, "num_rows", num_rows)?, as_i32(K, "vocab", vocab)?);
        let f = self.function(K, K)?;
        let (t, _g0) = tokens.device_ptr_mut(stream);
        let (l, _g1) = logits.device_ptr_mut(stream);
        let (p, _g2) = params.device_ptr(stream);
        let mut b = stream.launch_builder(f);
        b.arg(&t).arg(&l).arg(&p).arg(&nr).arg(&v);
        // SAFETY: args match `sample_tokens(u32*, float*, const RowSamplingParams*, int, int)`; tokens,
        // logits and params hold num_rows, num_rows * vocab and num_rows elements (checked above); the
        // block size is the kernel's __launch_bounds__ (1024).
        unsafe { b.launch(cfg) }.map_err(launch_error(K))?;
        Ok(())
    }
}

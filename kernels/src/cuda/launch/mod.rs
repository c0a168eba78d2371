//! [`CudaKernels`]: every kernel module compiled for the device's architecture and loaded, with one
//! safe launch method per kernel.
//!
//! Each method takes the device buffers as `&impl DevicePtr<T>` (read) or `&mut impl DevicePtrMut<T>`
//! (written) — `CudaSlice`, `CudaView` or `CudaViewMut` — plus explicit sizes, checks that every buffer
//! holds at least what the kernel will index for those sizes (and alignment where 16-byte loads are
//! unconditional), and only then queues the kernel on the given stream. Buffers may be larger than
//! needed (persistent max-size buffers for CUDA graphs are fine). Values read from device memory (ids,
//! slots, block ids, sequence offsets) can't be checked on the host; the kernels bounds-check them, so
//! a wrong value gives a wrong result, never an out-of-bounds access. Launches are asynchronous: errors
//! of the kernel itself surface at the next synchronizing call.
//!
//! Methods by op family: [`ops`] (embedding, RMSNorm, RoPE, KV-cache write, SiLU·mul), [`attention`]
//! (paged decode + merge, paged prefill), [`sampling`] (penalties, logit bias, sampling).

mod attention;
mod ops;
mod sampling;

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaStream, DeviceRepr, DeviceSlice, ValidAsZeroBits};
use cudarc::nvrtc::Ptx;

pub use attention::{DecodeAttentionArgs, DecodeWorkspace, PrefillAttentionArgs};
pub use ops::{CacheWriteArgs, RopeArgs};

use super::compile::{self, CompileOptions, GpuArch, KernelResources};
use super::context;
use super::error::CudaKernelError;
use super::shapes::{LogitBiasEntry, PenaltyEntry, RowSamplingParams};
use super::sources::SOURCES;

// SAFETY: plain #[repr(C)] structs of 4-byte scalars with no padding, laid out exactly like the
// structs of the same names in sampling.cu; every bit pattern (all zeros included) is a valid value.
unsafe impl DeviceRepr for RowSamplingParams {}
unsafe impl ValidAsZeroBits for RowSamplingParams {}
unsafe impl DeviceRepr for PenaltyEntry {}
unsafe impl ValidAsZeroBits for PenaltyEntry {}
unsafe impl DeviceRepr for LogitBiasEntry {}
unsafe impl ValidAsZeroBits for LogitBiasEntry {}

/// All kernels, loaded into one context.
pub struct CudaKernels {
    ctx: Arc<CudaContext>,
    arch: GpuArch,
    /// Kernel name → function (each keeps its module alive).
    functions: HashMap<&'static str, CudaFunction>,
    /// ptxas' report per kernel, for logs and the compile test.
    resources: Vec<KernelResources>,
}

impl CudaKernels {
    /// Compiles (or loads from the cache) every kernel file for the context's device and loads it.
    /// The cache key includes the driver version.
    pub fn load(ctx: &Arc<CudaContext>) -> Result<CudaKernels, CudaKernelError> {
        let arch = context::device_arch(ctx)?;
        let mut opts = CompileOptions::for_arch(arch)?;
        opts.cache_salt = format!("driver {}", context::driver_version()?);
        CudaKernels::load_with(ctx, &opts)
    }

    /// As [`CudaKernels::load`] with explicit compile options (`opts.arch` must suit the device).
    pub fn load_with(ctx: &Arc<CudaContext>, opts: &CompileOptions) -> Result<CudaKernels, CudaKernelError> {
        let mut functions = HashMap::new();
        let mut resources = Vec::new();
        for src in SOURCES {
            let module = compile::compile(src, opts)?;
            resources.extend(module.resource_usage());
            let loaded = ctx
                .load_module(Ptx::from_binary(module.cubin))
                .map_err(CudaKernelError::driver(format!("loading {} ({})", src.file, opts.arch)))?;
            for &name in src.kernels {
                let f = loaded.load_function(name).map_err(CudaKernelError::driver(format!("cuModuleGetFunction({name})")))?;
                functions.insert(name, f);
            }
        }
        Ok(CudaKernels { ctx: Arc::clone(ctx), arch: opts.arch, functions, resources })
    }

    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The architecture the kernels were compiled for.
    pub fn arch(&self) -> GpuArch {
        self.arch
    }

    /// ptxas' per-kernel resource report (registers, spills, shared memory).
    pub fn resources(&self) -> &[KernelResources] {
        &self.resources
    }

    fn function(&self, kernel: &'static str, name: &str) -> Result<&CudaFunction, CudaKernelError> {
        self.functions.get(name).ok_or_else(|| CudaKernelError::invalid(kernel, format!("kernel {name} is not loaded")))
    }
}

/// Maps a failed launch of `kernel` to [`CudaKernelError::Driver`].
pub(crate) fn launch_error(kernel: &'static str) -> impl FnOnce(cudarc::driver::DriverError) -> CudaKernelError {
    CudaKernelError::driver(format!("launching {kernel}"))
}

/// `buf` must hold at least `need` elements.
pub(crate) fn check_len<T>(kernel: &'static str, what: &str, buf: &impl DeviceSlice<T>, need: usize) -> Result<(), CudaKernelError> {
    if buf.len() < need {
        return Err(CudaKernelError::invalid(kernel, format!("`{what}` has {} elements, needs at least {need}", buf.len())));
    }
    Ok(())
}

/// Elements a strided row buffer needs: `rows` rows of `width` elements starting `stride` apart after
/// `offset` elements.
pub(crate) fn strided_need(rows: usize, stride: usize, offset: usize, width: usize) -> usize {
    if rows == 0 {
        0
    } else {
        (rows - 1) * stride + offset + width
    }
}

/// `v` as a kernel `int`.
pub(crate) fn as_i32(kernel: &'static str, what: &str, v: usize) -> Result<i32, CudaKernelError> {
    i32::try_from(v).map_err(|_| CudaKernelError::invalid(kernel, format!("{what} = {v} exceeds the kernel's int range")))
}

/// `v` as a grid dimension no larger than `max` (65535 for grid y/z, 2^31 - 1 for x).
pub(crate) fn grid_dim(kernel: &'static str, what: &str, v: usize, max: u32) -> Result<u32, CudaKernelError> {
    u32::try_from(v)
        .ok()
        .filter(|&d| d <= max)
        .ok_or_else(|| CudaKernelError::invalid(kernel, format!("{what} = {v} exceeds the grid limit {max}")))
}

pub(crate) const GRID_X_MAX: u32 = i32::MAX as u32;
pub(crate) const GRID_YZ_MAX: u32 = 65535;

/// The device pointer must be 16-byte aligned (kernels that load 16 bytes unconditionally).
pub(crate) fn check_aligned16(kernel: &'static str, what: &str, ptr: u64) -> Result<(), CudaKernelError> {
    if !ptr.is_multiple_of(16) {
        return Err(CudaKernelError::invalid(kernel, format!("`{what}` must start 16-byte aligned (device address {ptr:#x})")));
    }
    Ok(())
}

/// The stream the launch goes to must belong to the kernels' context.
pub(crate) fn check_stream(kernels: &CudaKernels, kernel: &'static str, stream: &CudaStream) -> Result<(), CudaKernelError> {
    if !Arc::ptr_eq(stream.context(), &kernels.ctx) {
        return Err(CudaKernelError::invalid(kernel, "the stream belongs to another CUDA context than the loaded kernels"));
    }
    Ok(())
}

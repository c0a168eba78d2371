//! Finding and opening the GPU without ever panicking.
//!
//! cudarc loads libcuda lazily and PANICS when it is missing, so every entry point here checks
//! `cudarc::driver::sys::is_culib_present()` first; with a driver but no usable device,
//! `CudaContext::new` returns an error, mapped to [`CudaKernelError::NoDevice`].

use std::sync::Arc;

use cudarc::driver::{CudaContext, DriverError};

use super::compile::GpuArch;
use super::error::CudaKernelError;

/// Whether libcuda can be loaded (no CUDA call is made).
pub fn is_driver_library_present() -> bool {
    // SAFETY: only tries to dlopen the candidate library names; no driver function is called.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Opens device `ordinal`. Checks for libcuda before touching cudarc. The caller usually follows with
/// `unsafe { ctx.disable_event_tracking() }` (single-stream engine; see shared GPU notes).
pub fn open_device(ordinal: usize) -> Result<Arc<CudaContext>, CudaKernelError> {
    if !is_driver_library_present() {
        return Err(CudaKernelError::LibraryMissing {
            library: "libcuda",
            hint: "no NVIDIA driver on this machine",
        });
    }
    CudaContext::new(ordinal).map_err(|source| CudaKernelError::NoDevice { ordinal, source })
}

/// Why CUDA device 0 can't be used, or `None` when it can.
pub fn cuda_unavailable_reason() -> Option<String> {
    open_device(0).err().map(|e| e.to_string())
}

/// Whether CUDA device 0 can be opened: libcuda is present and `CudaContext::new(0)` succeeds.
pub fn is_cuda_available() -> bool {
    cuda_unavailable_reason().is_none()
}

/// The device's real architecture (`sm_90` on H100/H200).
pub fn device_arch(ctx: &CudaContext) -> Result<GpuArch, CudaKernelError> {
    let (major, minor) = ctx.compute_capability().map_err(CudaKernelError::driver("cuDeviceGetAttribute(compute capability)"))?;
    Ok(GpuArch { major: major as u32, minor: minor as u32 })
}

/// The driver's CUDA version as reported by `cuDriverGetVersion` (e.g. 13000 for CUDA 13.0).
pub fn driver_version() -> Result<i32, CudaKernelError> {
    if !is_driver_library_present() {
        return Err(CudaKernelError::LibraryMissing { library: "libcuda", hint: "no NVIDIA driver on this machine" });
    }
    let mut v = 0;
    // SAFETY: libcuda is present (checked above); `v` is a valid out pointer.
    let status = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) };
    status.result().map_err(|e: DriverError| CudaKernelError::Driver { during: "cuDriverGetVersion".into(), source: e })?;
    Ok(v)
}

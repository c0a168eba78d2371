//! Errors of the CUDA kernel layer: missing libraries or device, compilation, bad launch arguments.

use std::path::PathBuf;

/// Everything that can go wrong between "is there a GPU" and "the kernel was queued".
#[derive(Debug, thiserror::Error)]
pub enum CudaKernelError {
    /// A CUDA shared library could not be loaded (checked before cudarc touches it: cudarc panics on a
    /// missing library).
    #[error("{library} could not be loaded ({hint})")]
    LibraryMissing { library: &'static str, hint: &'static str },

    /// The driver is there but device `ordinal` could not be opened (no GPU, driver/runtime mismatch).
    #[error("CUDA device {ordinal} is not usable: {source}")]
    NoDevice {
        ordinal: usize,
        #[source]
        source: cudarc::driver::DriverError,
    },

    /// A driver call failed (allocation, module load, launch).
    #[error("CUDA driver error during {during}: {source}")]
    Driver {
        during: String,
        #[source]
        source: cudarc::driver::DriverError,
    },

    /// No directory with `cuda_bf16.h` was found for NVRTC.
    #[error("cuda_bf16.h not found (set LLMSERVE_CUDA_INCLUDE); searched: {searched:?}")]
    HeadersNotFound { searched: Vec<PathBuf> },

    /// NVRTC rejected a kernel file; `log` is the compiler output.
    #[error("NVRTC failed to compile {file} for {arch}: {status}\n{log}")]
    Compile { file: &'static str, arch: String, status: String, log: String },

    /// A kernel's arguments do not fit each other (buffer too small, unsupported size, misalignment).
    #[error("{kernel}: {message}")]
    InvalidArgument { kernel: &'static str, message: String },
}

impl CudaKernelError {
    pub(crate) fn invalid(kernel: &'static str, message: impl Into<String>) -> CudaKernelError {
        CudaKernelError::InvalidArgument { kernel, message: message.into() }
    }

    pub(crate) fn driver(during: impl Into<String>) -> impl FnOnce(cudarc::driver::DriverError) -> CudaKernelError {
        let during = during.into();
        move |source| CudaKernelError::Driver { during, source }
    }
}

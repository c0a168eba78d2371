//! The CUDA backend: LLaMA in bf16 on one NVIDIA GPU behind the same [`crate::ModelRunner`] seam as the
//! CPU backend.
//!
//! - [`device`]: `--device cuda|cpu|auto` and resolving it on this build and machine (always compiled).
//! - [`plan`]: the host-side logic — buffer sizes for the step limits, KV-cache sizing from free device
//!   memory, the step's device input arrays, bf16 weight conversion with fused rows, per-row sampling
//!   inputs (always compiled and unit-tested; no GPU needed).
//! - with the `cuda` feature: [`weights`] (bf16 weights on the device, fused QKV / gate-up),
//!   [`runner`] ([`CudaModelRunner`]: persistent buffers, cuBLAS GEMMs, the forward, sampling on the
//!   device).
//!
//! References: vLLM `v1/worker/gpu_model_runner.py` (persistent input batch, `_prepare_inputs`,
//! KV sizing from free memory), nano-vllm `engine/model_runner.py` (allocate_kv_cache, prepare_*),
//! candle `candle-transformers/src/models/llama.rs` (the forward). Layouts and kernels:
//! `docs/cuda-kernels.md`; this backend: `docs/cuda-backend.md`.

pub mod device;
pub mod plan;
#[cfg(feature = "cuda")]
pub mod runner;
#[cfg(feature = "cuda")]
pub mod weights;

pub use device::{Device, DeviceError, ResolvedDevice};
pub use plan::{BufferPlan, CudaRunnerConfig, StepInputs};
#[cfg(feature = "cuda")]
pub use runner::CudaModelRunner;

/// Errors of the CUDA backend. Capacity errors name the quantity and its limit.
#[derive(Debug, thiserror::Error)]
pub enum CudaBackendError {
    #[error("invalid CUDA backend configuration: {0}")]
    Config(String),
    #[error("{what}: {need} exceeds the CUDA backend's limit {limit}")]
    Capacity { what: &'static str, need: usize, limit: usize },
    #[error("device memory: {0}")]
    OutOfMemory(String),
    #[error("weights: {0}")]
    Weights(String),
    #[error(transparent)]
    Model(#[from] llmserve_models::ModelError),
    #[cfg(feature = "cuda")]
    #[error(transparent)]
    Kernel(#[from] llmserve_kernels::cuda::CudaKernelError),
    #[cfg(feature = "cuda")]
    #[error("CUDA driver error during {during}: {source}")]
    Driver {
        during: &'static str,
        #[source]
        source: cudarc::driver::DriverError,
    },
    #[cfg(feature = "cuda")]
    #[error("cuBLAS error during {during}: {source}")]
    Cublas {
        during: &'static str,
        #[source]
        source: cudarc::cublas::result::CublasError,
    },
    #[error("the device reported token id {token} for row {row}, beyond the vocabulary {vocab}")]
    BadToken { row: usize, token: u32, vocab: usize },
    #[error("an input token id was out of range on the device (vocab {vocab})")]
    InvalidTokenOnDevice { vocab: usize },
}

#[cfg(feature = "cuda")]
pub(crate) fn driver(during: &'static str) -> impl FnOnce(cudarc::driver::DriverError) -> CudaBackendError {
    move |source| CudaBackendError::Driver { during, source }
}

//! The CUDA backend's hand-written kernels: sources, NVRTC compilation, launch wrappers, CPU references.
//!
//! - [`sources`]: every `kernels/cuda/*.cu` file embedded with `include_str!`, with its kernel names.
//! - [`shapes`]: the layouts and per-row parameter structs shared by the kernels, their launch
//!   wrappers and the CPU references (what a buffer holds, in which order).
//! - [`reference`]: plain-loop CPU implementations of every kernel (f32 math on bf16 inputs), the
//!   ground truth of the device tests; compiled and unit-tested without the `cuda` feature.
//! - with the `cuda` feature: [`compile`] (NVRTC → CUBIN for the device's arch, on-disk cache),
//!   [`context`] (`is_cuda_available`, opening device 0) and [`launch`] ([`CudaKernels`]: one safe,
//!   size-checked method per kernel).
//!
//! Layouts, launch shapes and tolerances are described in `docs/cuda-kernels.md`.

pub mod reference;
pub mod shapes;
pub mod sources;

#[cfg(feature = "cuda")]
pub mod compile;
#[cfg(feature = "cuda")]
pub mod context;
#[cfg(feature = "cuda")]
mod error;
#[cfg(feature = "cuda")]
pub mod launch;

#[cfg(feature = "cuda")]
pub use context::{cuda_unavailable_reason, is_cuda_available, open_device};
#[cfg(feature = "cuda")]
pub use error::CudaKernelError;
#[cfg(feature = "cuda")]
pub use launch::CudaKernels;
pub use shapes::*;

//! Compute kernels for llmserve.
//!
//! `cpu` holds the CPU kernels: GGML-compatible block quantization formats (layouts as in llama.cpp's
//! `ggml-quants.c`), quantized and dense dot products with runtime-selected SIMD paths (AVX-512 / AVX2 /
//! portable), the parallel matmul driver and the small vector ops the LLaMA forward needs. Every SIMD
//! kernel has a plain reference implementation next to it and a test comparing the two.
//! `cache_dir`: the user cache directory every crate uses.
//! `cuda`: the CUDA backend's kernels (sources, NVRTC, launch wrappers; feature `cuda`) and CPU references.

pub mod cache_dir;
pub mod cpu;
pub mod cuda;
pub mod dtype;

pub use dtype::DType;

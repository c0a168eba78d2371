//! The engine: runs models on a backend over a paged KV cache and samples tokens.
//!
//! - [`kv_cache`]: the physical paged KV cache (per-layer K/V storage, sized in blocks).
//! - [`cpu_backend`]: the CPU backend — the LLaMA forward on a dedicated rayon pool.
//! - [`sampler`]: logits processing (penalties, bias, temperature) and sampling (greedy, top-k, top-p,
//!   min-p) with a seeded RNG.
//! - [`generate`]: a single-request generation loop used by `llmserve generate` / `bench-model` and
//!   the model tests (continuous batching comes with the scheduler).

pub mod cpu_backend;
pub mod generate;
pub mod kv_cache;
pub mod sampler;

pub use cpu_backend::{CpuBackend, CpuBackendConfig};
pub use kv_cache::KvCache;
pub use sampler::Sampler;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] llmserve_models::ModelError),
    #[error(transparent)]
    Forward(#[from] llmserve_models::llama::forward::ForwardError),
    #[error("invalid sampling parameters: {0}")]
    Sampling(#[from] llmserve_scheduler::SamplingParamsError),
    #[error("KV cache too small: {needed} tokens need {needed_blocks} blocks of {block_size}, the cache has {available_blocks}")]
    CacheFull { needed: usize, needed_blocks: usize, block_size: usize, available_blocks: usize },
    #[error("prompt + max_tokens = {requested} tokens exceeds the context length {limit}")]
    ContextLength { requested: usize, limit: usize },
    #[error("empty prompt: at least one token is needed")]
    EmptyPrompt,
    #[error("could not start the compute pool: {0}")]
    ThreadPool(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

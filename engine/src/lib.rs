//! The engine: runs models on a backend over a paged KV cache, samples tokens, and drives the
//! continuous-batching scheduler step by step for many concurrent requests.
//!
//! - [`kv_cache`]: the physical paged KV cache (per-layer K/V storage, sized in blocks).
//! - [`cpu_backend`]: the CPU backend — the LLaMA forward on a dedicated rayon pool.
//! - [`logprobs`]: raw log-softmax logprobs and top-k of a logits row (OpenAI `logprobs`, prompt
//!   scoring), and the accumulation of a prompt's logprobs across chunked-prefill steps.
//! - [`sampler`]: logits processing (penalties, bias, temperature) and sampling (greedy, top-k, top-p,
//!   min-p) with per-token seeded RNG streams (reproducible across preemption).
//! - [`generate`]: a single-request generation loop used by `llmserve generate` / `bench-model` and
//!   the model tests.
//! - [`model_runner`]: the [`ModelRunner`] trait, the seam between the scheduler's plan and a backend.
//! - [`input_batch`]: the runner's persistent per-request state and the flattened step inputs.
//! - [`cpu_runner`]: [`CpuModelRunner`], the CPU backend behind the `ModelRunner` seam.
//! - [`cuda`]: device selection, host-side planning, and (feature `cuda`) `CudaModelRunner`, the GPU backend.
//! - [`engine_core`]: [`EngineCore`], the step loop (commands → schedule → execute → outputs) on
//!   its own thread, with text output processing (detokenization, stop strings).
//! - [`handle`]: [`EngineHandle`], the cloneable facade for async callers (submit, abort, stats,
//!   shutdown); [`stream`]: [`RequestStream`], the per-request event stream.

pub mod cpu_backend;
pub mod cpu_runner;
pub mod cuda;
pub mod engine_core;
pub mod generate;
pub mod handle;
pub mod input_batch;
pub mod kv_cache;
pub mod logprobs;
pub mod model_runner;
pub mod sampler;
pub mod stream;

pub use cpu_backend::{CpuBackend, CpuBackendConfig};
pub use cpu_runner::CpuModelRunner;
pub use engine_core::{EngineCore, EngineStats, StepTrace};
pub use handle::{EngineConfig, EngineHandle, EngineLimits, EngineOptions, EngineRequest};
pub use input_batch::InputBatch;
pub use kv_cache::KvCache;
pub use llmserve_scheduler::{FinishReason, TokenLogprob, MAX_LOGPROBS};
pub use model_runner::ModelRunner;
pub use sampler::Sampler;
pub use stream::{CompletedSample, RequestStream, StreamEvent, Usage};

/// Errors of the engine. Variants about a request name the offending value and the limit.
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
    #[error("prompt ({prompt_tokens} tokens) + max_tokens ({max_tokens}) = {} tokens exceeds the context length {limit}", prompt_tokens + max_tokens)]
    ContextLength { prompt_tokens: usize, max_tokens: usize, limit: usize },
    #[error("empty prompt: at least one token is needed")]
    EmptyPrompt,
    #[error("prompt token {id} at position {position} is out of range (vocab size {vocab_size})")]
    TokenOutOfRange { id: u32, position: usize, vocab_size: usize },
    #[error("n = {n} samples is invalid: must be between 1 and {max}")]
    InvalidSampleCount { n: usize, max: usize },
    #[error("stop strings need a tokenizer, and this model has none")]
    StopStringsNeedTokenizer,
    #[error("logprobs are not supported by this backend yet")]
    LogprobsUnsupported,
    #[error("invalid engine configuration: {0}")]
    Config(#[from] llmserve_scheduler::SchedulerConfigError),
    #[error("the scheduler refused the request: {0}")]
    Rejected(#[from] llmserve_scheduler::AddRequestError),
    #[error("model runner state disagrees with the scheduler: {0}")]
    RunnerState(String),
    #[error("the model runner panicked: {0}")]
    RunnerPanic(String),
    #[error("the engine is not running (shut down or its thread died)")]
    EngineStopped,
    #[error("could not start the engine thread: {0}")]
    Spawn(std::io::Error),
    #[error("could not start the compute pool: {0}")]
    ThreadPool(String),
    #[error(transparent)] Cuda(#[from] crate::cuda::CudaBackendError),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

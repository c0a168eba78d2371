//! The seam between the scheduler's plan and a compute backend.
//!
//! Models vLLM v1's `GPUModelRunner.execute_model(scheduler_output) -> ModelRunnerOutput` (and
//! nano-vllm's `ModelRunner.run`): the engine hands the runner one [`SchedulerOutput`] per step; the
//! runner owns the model, the physical KV cache and its persistent per-request state (an
//! [`crate::InputBatch`]), runs ONE forward over every scheduled token, samples a token for each
//! request whose scheduled chunk reaches the end of its known tokens, and returns those tokens. The
//! scheduler never sees a tensor; the runner never decides who runs.
//!
//! The CPU implementation is [`crate::CpuModelRunner`]; the CUDA backend implements the same trait.

use llmserve_models::llama::KvCacheGeometry;
use llmserve_scheduler::{ModelRunnerOutput, SchedulerOutput};

use crate::EngineError;

/// A backend that executes the scheduler's steps.
///
/// Contract (see `llmserve_scheduler::output`): a request arrives once in `new_requests` (again after
/// a preemption, with its outputs so far in `token_ids`), then only as diffs in `cached_requests`;
/// `preempted_request_ids` and `finished_request_ids` tell the runner to drop its state. The
/// runner's `sampled_token_ids` lists every scheduled request in batch order, with an empty vector
/// for a non-final prefill chunk.
pub trait ModelRunner: Send {
    /// Runs one step. On error the engine fails every request scheduled in this step; the runner
    /// must still accept the next step (the failed requests arrive in `finished_request_ids`).
    fn execute(&mut self, scheduler_output: &SchedulerOutput) -> Result<ModelRunnerOutput, EngineError>;

    /// Shape of the physical KV cache: the scheduler's block pool is sized from it.
    fn kv_cache_geometry(&self) -> KvCacheGeometry;

    /// Physical KV-cache blocks (the scheduler's `num_blocks`).
    fn num_blocks(&self) -> usize {
        self.kv_cache_geometry().num_blocks
    }

    /// Tokens per KV-cache block (the scheduler's `block_size`).
    fn block_size(&self) -> usize {
        self.kv_cache_geometry().block_size
    }

    /// Rows of the logits: token ids must be below this.
    fn vocab_size(&self) -> usize;

    /// The model's context length (positions it was trained for).
    fn max_model_len(&self) -> usize;

    /// Requests the runner currently holds state for (tests and debugging: after every request has
    /// ended and one more step has run, this is 0).
    fn num_cached_requests(&self) -> usize;

    /// Whether the runner fills `ModelRunnerOutput::logprobs` and `prompt_logprobs` for requests
    /// asking `logprobs` / `prompt_logprobs`; the engine refuses such requests otherwise.
    fn supports_logprobs(&self) -> bool {
        false
    }
}

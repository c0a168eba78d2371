//! [`CpuModelRunner`]: the CPU backend behind the [`ModelRunner`] seam.
//!
//! Models vLLM v1 `worker/gpu_model_runner.py::execute_model` on the CPU: apply the scheduler's
//! state changes to the persistent [`InputBatch`], lay out the step's flattened inputs, run ONE
//! forward over every scheduled token of every request (prefill chunks and decodes together: the
//! matmuls see `m = total scheduled tokens`, so each weight matrix is read once per step however
//! many sequences decode), then sample one token for each request whose chunk ended at its last
//! known token and append it to the request's tokens for the next step.
//!
//! Same-step prefix sharing is valid: the forward writes the K/V of all of a layer's tokens before
//! any attention of that layer reads the cache (see `models/src/llama/forward.rs`), so two requests
//! admitted in one step may share blocks.
//!
//! Cost per step: the forward, O(scheduled tokens · model) plus attention O(Σ new · context), and
//! O(vocab) per sampled request.

use llmserve_models::llama::{KvCacheGeometry, LlamaModel};
use llmserve_scheduler::{ModelRunnerOutput, SchedulerOutput};

use crate::cpu_backend::{CpuBackend, CpuBackendConfig};
use crate::input_batch::InputBatch;
use crate::model_runner::ModelRunner;
use crate::EngineError;

/// CPU backend + persistent batch state.
pub struct CpuModelRunner {
    /// The model, its KV cache and the compute pool.
    backend: CpuBackend,
    /// Per-request state and the step's inputs.
    batch: InputBatch,
    /// `[logits rows, vocab]` output of the last forward, reused across steps.
    logits: Vec<f32>,
}

impl CpuModelRunner {
    /// A runner over `model` with the KV cache and threads of `config`.
    pub fn new(model: LlamaModel, config: &CpuBackendConfig) -> Result<CpuModelRunner, EngineError> {
        Ok(CpuModelRunner::from_backend(CpuBackend::new(model, config)?))
    }

    /// A runner over an existing backend (its cache contents are irrelevant: blocks are rewritten
    /// before they are read).
    pub fn from_backend(backend: CpuBackend) -> CpuModelRunner {
        let block_size = backend.geometry().block_size;
        CpuModelRunner { backend, batch: InputBatch::new(block_size), logits: Vec::new() }
    }

    /// Compute threads of the backend's pool.
    pub fn threads(&self) -> usize {
        self.backend.threads()
    }

    /// The persistent batch (tests, debugging).
    pub fn batch(&self) -> &InputBatch {
        &self.batch
    }
}

impl ModelRunner for CpuModelRunner {
    fn execute(&mut self, out: &SchedulerOutput) -> Result<ModelRunnerOutput, EngineError> {
        self.batch.update_states(out)?;
        if out.is_empty() {
            return Ok(ModelRunnerOutput::default());
        }
        self.batch.prepare_inputs(out)?;
        self.backend.execute(self.batch.input_token_ids(), self.batch.metadata(), &mut self.logits)?;
        let vocab = self.backend.vocab_size();
        let rows = self.batch.num_logits_rows();
        if self.logits.len() != rows * vocab {
            return Err(EngineError::RunnerState(format!(
                "forward returned {} logits for {rows} rows of {vocab}",
                self.logits.len()
            )));
        }
        let logits = &mut self.logits;
        self.batch.collect_sampled(|row, state| state.sampler.sample(&mut logits[row * vocab..(row + 1) * vocab]))
    }

    fn kv_cache_geometry(&self) -> KvCacheGeometry {
        self.backend.geometry()
    }

    fn vocab_size(&self) -> usize {
        self.backend.vocab_size()
    }

    fn max_model_len(&self) -> usize {
        self.backend.model.config.max_position_embeddings
    }

    fn num_cached_requests(&self) -> usize {
        self.batch.len()
    }
}

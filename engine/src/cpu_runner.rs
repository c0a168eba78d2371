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
//! Logprobs (see [`crate::logprobs`]): for a request asking `logprobs`, its raw logits row is copied
//! before the sampler changes it in place, and the chosen token's log-softmax and the top-k are taken
//! from the copy. For a request asking `prompt_logprobs`, the input batch adds a logits row for each
//! scheduled prompt position (see [`InputBatch::prepare_inputs`]), scored against the next prompt
//! token. Requests asking neither cost nothing extra.
//!
//! Cost per step: the forward, O(scheduled tokens · model) plus attention O(Σ new · context), and
//! O(vocab) per sampled request (twice that with `logprobs`) and per scored prompt position.

use llmserve_models::llama::{KvCacheGeometry, LlamaModel};
use llmserve_scheduler::{ModelRunnerOutput, RequestId, SchedulerOutput, TokenLogprob};

use crate::cpu_backend::{CpuBackend, CpuBackendConfig};
use crate::input_batch::InputBatch;
use crate::logprobs::token_logprob;
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
    /// `[vocab]` copy of a raw logits row taken before sampling modifies it (requests asking
    /// `logprobs` only), reused across steps.
    raw_row: Vec<f32>,
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
        CpuModelRunner { backend, batch: InputBatch::new(block_size), logits: Vec::new(), raw_row: Vec::new() }
    }

    /// Compute threads of the backend's pool.
    pub fn threads(&self) -> usize {
        self.backend.threads()
    }

    /// The persistent batch (tests, debugging).
    pub fn batch(&self) -> &InputBatch {
        &self.batch
    }

    /// Logprobs of the prompt tokens scored by the prepared step's rows, per request that asked.
    fn prompt_logprobs(&self, vocab: usize) -> Vec<(RequestId, usize, Vec<TokenLogprob>)> {
        let mut out = Vec::new();
        for chunk in self.batch.chunks() {
            let Some(rows) = chunk.prompt_rows else { continue };
            let Some(state) = self.batch.get(chunk.request_id) else { continue };
            let k = state.sampler.params().prompt_logprobs.unwrap_or(0) as usize;
            let entries = (0..rows.num_rows)
                .map(|j| {
                    let row = rows.first_row + j;
                    token_logprob(&self.logits[row * vocab..(row + 1) * vocab], state.token_ids[rows.first_token + j], k)
                })
                .collect();
            out.push((chunk.request_id, rows.first_token, entries));
        }
        out
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
        let prompt_logprobs = self.prompt_logprobs(vocab);
        let (logits, raw_row) = (&mut self.logits, &mut self.raw_row);
        let mut logprobs = Vec::new();
        let mut output = self.batch.collect_sampled(|row, id, state| {
            let row = &mut logits[row * vocab..(row + 1) * vocab];
            let Some(k) = state.sampler.params().logprobs else { return state.sampler.sample(row) };
            raw_row.clear();
            raw_row.extend_from_slice(row);
            let token = state.sampler.sample(row);
            logprobs.push((id, vec![token_logprob(raw_row, token, k as usize)]));
            token
        })?;
        output.logprobs = logprobs;
        output.prompt_logprobs = prompt_logprobs;
        Ok(output)
    }

    fn supports_logprobs(&self) -> bool {
        true
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

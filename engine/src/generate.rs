//! Single-request generation and teacher-forced scoring on the CPU backend.
//!
//! The request owns KV blocks `0..n` of the cache (there is one request at a time here; the
//! continuous-batching scheduler allocates blocks for many). The prompt is prefilled in chunks of at
//! most `max_batch_tokens` (chunked prefill through the same paged-attention path), then one token per
//! decode step. Timing of prefill and decode is reported separately (tokens per second).

use std::time::{Duration, Instant};

use llmserve_models::llama::metadata::SequenceChunk;
use llmserve_models::llama::AttentionMetadata;
use llmserve_scheduler::SamplingParams;

use crate::cpu_backend::CpuBackend;
use crate::sampler::Sampler;
use crate::EngineError;

/// Why generation ended: the scheduler's reason type (`Stop`, `Length`, `Abort` here).
pub use llmserve_scheduler::FinishReason;

/// What a generation produced and how fast.
#[derive(Clone, Debug)]
pub struct GenerationOutput {
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    pub prefill_time: Duration,
    pub decode_time: Duration,
}

impl GenerationOutput {
    /// Prompt tokens per second.
    pub fn prompt_tok_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_time.as_secs_f64().max(1e-9)
    }

    /// Decode tokens per second (tokens after the first, over the decode time).
    pub fn decode_tok_s(&self) -> f64 {
        self.tokens.len().saturating_sub(1) as f64 / self.decode_time.as_secs_f64().max(1e-9)
    }
}

/// Options of [`generate`].
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub params: SamplingParams,
    /// Tokens that end generation (the model's EOS ids) unless `params.ignore_eos`.
    pub eos_ids: Vec<u32>,
    /// Largest prefill chunk.
    pub max_batch_tokens: usize,
}

pub fn single_sequence_blocks(backend: &CpuBackend, total_tokens: usize) -> Result<Vec<u32>, EngineError> {
    let g = backend.geometry();
    let needed_blocks = total_tokens.div_ceil(g.block_size);
    if needed_blocks > g.num_blocks {
        return Err(EngineError::CacheFull {
            needed: total_tokens,
            needed_blocks,
            block_size: g.block_size,
            available_blocks: g.num_blocks,
        });
    }
    Ok((0..needed_blocks as u32).collect())
}

/// Runs `tokens` of one sequence whose first `start` tokens are cached (logits of the last token, or
/// of every token with `all_logits`).
pub fn run_chunk(
    backend: &mut CpuBackend,
    table: &[u32],
    tokens: &[u32],
    start: usize,
    all_logits: bool,
    logits: &mut Vec<f32>,
) -> Result<(), EngineError> {
    let block_size = backend.geometry().block_size;
    let chunk = SequenceChunk { num_cached: start, num_new: tokens.len(), block_table: table, wants_logits: true };
    let mut meta = AttentionMetadata::for_sequences(&[chunk], block_size).map_err(|e| {
        EngineError::Forward(llmserve_models::llama::forward::ForwardError::BadMetadata(e))
    })?;
    if all_logits {
        meta.logits_indices = (0..tokens.len() as u32).collect();
    }
    backend.execute(tokens, &meta, logits)
}

/// Generates from `prompt`; `on_token` sees each new token and returns false to stop early.
pub fn generate(
    backend: &mut CpuBackend,
    prompt: &[u32],
    opts: &GenerateOptions,
    mut on_token: impl FnMut(u32) -> bool,
) -> Result<GenerationOutput, EngineError> {
    if prompt.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    opts.params.validate(backend.vocab_size())?;
    let limit = backend.model.config.max_position_embeddings;
    let max_tokens = opts.params.max_tokens as usize;
    if prompt.len() + max_tokens > limit {
        return Err(EngineError::ContextLength { prompt_tokens: prompt.len(), max_tokens, limit });
    }
    let table = single_sequence_blocks(backend, prompt.len() + max_tokens)?;
    let mut sampler = Sampler::new(opts.params.clone(), prompt);
    let mut logits = Vec::new();
    let t0 = Instant::now();
    let step = opts.max_batch_tokens.max(1);
    for start in (0..prompt.len()).step_by(step) {
        let end = (start + step).min(prompt.len());
        run_chunk(backend, &table, &prompt[start..end], start, false, &mut logits)?;
    }
    let prefill_time = t0.elapsed();
    let t1 = Instant::now();
    let mut out = Vec::with_capacity(max_tokens);
    let mut finish_reason = FinishReason::Length;
    while out.len() < max_tokens {
        let tok = sampler.sample(&mut logits);
        sampler.record(tok);
        out.push(tok);
        if !on_token(tok) {
            finish_reason = FinishReason::Abort;
            break;
        }
        let is_eos = !opts.params.ignore_eos && opts.eos_ids.contains(&tok);
        if is_eos || opts.params.stop_token_ids.contains(&tok) {
            finish_reason = FinishReason::Stop;
            break;
        }
        if out.len() == max_tokens {
            break;
        }
        let pos = prompt.len() + out.len() - 1;
        run_chunk(backend, &table, &[tok], pos, false, &mut logits)?;
    }
    Ok(GenerationOutput { tokens: out, finish_reason, prompt_tokens: prompt.len(), prefill_time, decode_time: t1.elapsed() })
}

/// Teacher-forced scoring: logits `[ids.len(), vocab]` for every position of `ids`, computed in chunks
/// of `max_batch_tokens` through the paged cache.
pub fn score(backend: &mut CpuBackend, ids: &[u32], max_batch_tokens: usize) -> Result<Vec<f32>, EngineError> {
    if ids.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    let table = single_sequence_blocks(backend, ids.len())?;
    let mut all = Vec::with_capacity(ids.len() * backend.vocab_size());
    let mut logits = Vec::new();
    let step = max_batch_tokens.max(1);
    for start in (0..ids.len()).step_by(step) {
        let end = (start + step).min(ids.len());
        run_chunk(backend, &table, &ids[start..end], start, true, &mut logits)?;
        all.extend_from_slice(&logits);
    }
    Ok(all)
}

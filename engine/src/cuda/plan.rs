//! Host-side planning of the CUDA backend, compiled and tested without a GPU: buffer sizes for the
//! step limits, KV-cache sizing from free device memory, the per-step device input arrays built from
//! the runner's [`AttentionMetadata`], bf16 weight conversion with fused row concatenation, and the
//! per-row sampling inputs (parameters, host-drawn uniforms, penalty / bias entry lists).
//!
//! Follows vLLM's `gpu_model_runner.py` (`_prepare_inputs` into persistent max-size input buffers,
//! `determine_available_memory` → `num_gpu_blocks`) and nano-vllm's `allocate_kv_cache`. Everything is
//! sized for `max_num_batched_tokens` / `max_num_seqs` up front so the device never allocates during a
//! step (the next issue captures decode steps in CUDA graphs, which need fixed addresses).
//!
//! Complexity: building a step's inputs is O(tokens + seqs · max_blocks_per_seq); penalty entries are
//! O(prompt + output) per request that uses penalties.

use std::collections::BTreeMap;

use half::bf16;
use llmserve_kernels::cuda::{LogitBiasEntry, PenaltyEntry, RowSamplingParams};
use llmserve_models::config::LlamaConfig;
use llmserve_models::llama::AttentionMetadata;
use llmserve_models::tensor::WeightTensor;
use llmserve_scheduler::SamplingParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::CudaBackendError;

/// How to size the CUDA backend.
#[derive(Clone, Debug)]
pub struct CudaRunnerConfig {
    /// Tokens per KV-cache block.
    pub block_size: usize,
    /// Most sequences in one step (rows of block tables, logits, sampling inputs).
    pub max_num_seqs: usize,
    /// Most tokens in one step (rows of every activation buffer).
    pub max_num_batched_tokens: usize,
    /// Fraction of the device's total memory the backend may use (weights + buffers + KV cache).
    pub gpu_memory_utilization: f64,
    /// Context limit (block-table width, decode splits); `None` = the model's `max_position_embeddings`.
    pub max_model_len: Option<usize>,
    /// Fixed number of KV blocks instead of sizing from free memory (tests, benchmarks).
    pub num_kv_blocks: Option<usize>,
    /// Most penalty entries (distinct tokens of prompt ∪ output, summed over rows) per step.
    pub max_penalty_entries: usize,
    /// Most logit-bias entries per step.
    pub max_logit_bias_entries: usize,
}

impl Default for CudaRunnerConfig {
    fn default() -> Self {
        CudaRunnerConfig {
            block_size: 16,
            max_num_seqs: 256,
            max_num_batched_tokens: 8192,
            gpu_memory_utilization: 0.9,
            max_model_len: None,
            num_kv_blocks: None,
            max_penalty_entries: 1 << 20,
            max_logit_bias_entries: 1 << 16,
        }
    }
}

/// Sizes of every persistent buffer, derived from the model config and the step limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferPlan {
    pub max_tokens: usize,
    pub max_seqs: usize,
    pub max_model_len: usize,
    /// Row width of the device block tables: `ceil(max_model_len / block_size)`.
    pub max_blocks_per_seq: usize,
    pub block_size: usize,
    pub hidden: usize,
    pub q_dim: usize,
    pub kv_dim: usize,
    /// Width of the fused QKV row: `q_dim + 2 kv_dim`.
    pub qkv_width: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub max_penalty_entries: usize,
    pub max_logit_bias_entries: usize,
}

impl BufferPlan {
    pub fn new(model: &LlamaConfig, rc: &CudaRunnerConfig) -> Result<BufferPlan, CudaBackendError> {
        if rc.block_size == 0 || rc.max_num_seqs == 0 || rc.max_num_batched_tokens == 0 {
            return Err(CudaBackendError::Config("block_size, max_num_seqs and max_num_batched_tokens must be positive".into()));
        }
        if !(rc.gpu_memory_utilization > 0.0 && rc.gpu_memory_utilization <= 1.0) {
            return Err(CudaBackendError::Config(format!("gpu_memory_utilization {} must be in (0, 1]", rc.gpu_memory_utilization)));
        }
        let max_model_len = rc.max_model_len.unwrap_or(model.max_position_embeddings).max(1);
        if max_model_len > model.max_position_embeddings {
            return Err(CudaBackendError::Config(format!(
                "max_model_len {max_model_len} exceeds the model's context length {}",
                model.max_position_embeddings
            )));
        }
        let (q_dim, kv_dim) = (model.q_dim(), model.kv_dim());
        Ok(BufferPlan {
            max_tokens: rc.max_num_batched_tokens,
            max_seqs: rc.max_num_seqs.min(rc.max_num_batched_tokens),
            max_model_len,
            max_blocks_per_seq: max_model_len.div_ceil(rc.block_size),
            block_size: rc.block_size,
            hidden: model.hidden_size,
            q_dim,
            kv_dim,
            qkv_width: q_dim + 2 * kv_dim,
            ffn: model.intermediate_size,
            vocab: model.vocab_size,
            max_penalty_entries: rc.max_penalty_entries.max(1),
            max_logit_bias_entries: rc.max_logit_bias_entries.max(1),
        })
    }

    /// Bytes of the bf16 activation buffers (`x`, `h`, `qkv`, `attn`, `o`, `gate_up`, `act`, final rows).
    pub fn activation_bytes(&self) -> usize {
        let t = self.max_tokens;
        let elems = t * (3 * self.hidden + self.qkv_width + self.q_dim + 3 * self.ffn) + 2 * self.max_seqs * self.hidden;
        elems * 2
    }

    /// Bytes of the f32 logits `[max_seqs, vocab]`.
    pub fn logits_bytes(&self) -> usize {
        self.max_seqs * self.vocab * 4
    }
}

/// Bytes of one KV-cache block over all layers (K and V, bf16).
pub fn kv_block_bytes(model: &LlamaConfig, block_size: usize) -> usize {
    2 * model.num_hidden_layers * block_size * model.kv_dim() * 2
}

/// KV blocks that fit: the backend may use `utilization · total` bytes in all; `total − free` are
/// already in use (weights and buffers, allocated first, plus other processes); the rest goes to the
/// cache. An error names the shortfall when not even one block fits.
pub fn kv_cache_blocks(free: usize, total: usize, utilization: f64, block_bytes: usize) -> Result<usize, CudaBackendError> {
    let budget = (total as f64 * utilization) as usize;
    let used = total.saturating_sub(free);
    let avail = budget.saturating_sub(used).min(free);
    let blocks = avail / block_bytes.max(1);
    if blocks == 0 {
        return Err(CudaBackendError::OutOfMemory(format!(
            "no room for the KV cache: {used} of {total} bytes in use, utilization {utilization} allows {budget}; one block needs {block_bytes}"
        )));
    }
    Ok(blocks)
}

/// One step's device inputs laid out on the host in the persistent buffers' shapes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepInputs {
    /// `[num_tokens]` token ids.
    pub token_ids: Vec<u32>,
    /// `[num_tokens]` positions.
    pub positions: Vec<u32>,
    /// `[num_tokens]` flat KV slots (i32 for the kernels; `PADDING_SLOT` = skip).
    pub slot_mapping: Vec<i32>,
    /// `[num_seqs + 1]` row offsets.
    pub query_start_loc: Vec<u32>,
    /// `[num_seqs]` context after this step.
    pub seq_lens: Vec<u32>,
    /// `[num_seqs, plan.max_blocks_per_seq]` block ids, fixed row width (unused entries 0).
    pub block_tables: Vec<u32>,
    /// `[num_rows]` token rows whose logits are sampled.
    pub logits_indices: Vec<u32>,
    /// Longest query of the step (prefill kernel grid).
    pub max_query_len: usize,
    /// Longest context of the step.
    pub max_seq_len: usize,
}

impl StepInputs {
    pub fn num_tokens(&self) -> usize {
        self.token_ids.len()
    }

    pub fn num_seqs(&self) -> usize {
        self.seq_lens.len()
    }

    /// Every sequence has exactly one new token: the decode attention kernel applies.
    pub fn is_decode_only(&self) -> bool {
        self.max_query_len == 1 && self.num_tokens() == self.num_seqs()
    }

    /// Fills the arrays from the runner's metadata, checking every size against the plan.
    pub fn fill(&mut self, tokens: &[u32], meta: &AttentionMetadata, plan: &BufferPlan) -> Result<(), CudaBackendError> {
        let (n, ns) = (tokens.len(), meta.seq_lens.len());
        let cap = |what: &'static str, need: usize, limit: usize| {
            if need > limit {
                Err(CudaBackendError::Capacity { what, need, limit })
            } else {
                Ok(())
            }
        };
        cap("tokens in a step", n, plan.max_tokens)?;
        cap("sequences in a step", ns, plan.max_seqs)?;
        cap("sampled rows in a step", meta.logits_indices.len(), plan.max_seqs)?;
        cap("blocks per sequence", meta.max_blocks_per_seq, plan.max_blocks_per_seq)?;
        if meta.positions.len() != n || meta.slot_mapping.len() != n || meta.query_start_loc.len() != ns + 1 {
            return Err(CudaBackendError::Config(format!(
                "metadata does not describe {n} tokens / {ns} sequences ({} positions, {} slots, {} offsets)",
                meta.positions.len(),
                meta.slot_mapping.len(),
                meta.query_start_loc.len()
            )));
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= plan.vocab) {
            return Err(CudaBackendError::Capacity { what: "token id", need: t as usize + 1, limit: plan.vocab });
        }
        self.token_ids.clear();
        self.token_ids.extend_from_slice(tokens);
        self.positions.clear();
        self.positions.extend_from_slice(&meta.positions);
        self.slot_mapping.clear();
        for &s in &meta.slot_mapping {
            let s = i32::try_from(s).map_err(|_| CudaBackendError::Capacity { what: "KV slot", need: s as usize, limit: i32::MAX as usize })?;
            self.slot_mapping.push(s);
        }
        self.query_start_loc.clear();
        self.query_start_loc.extend_from_slice(&meta.query_start_loc);
        self.seq_lens.clear();
        self.seq_lens.extend_from_slice(&meta.seq_lens);
        self.block_tables.clear();
        self.block_tables.resize(ns * plan.max_blocks_per_seq, 0);
        for s in 0..ns {
            let row = &meta.block_tables[s * meta.max_blocks_per_seq..(s + 1) * meta.max_blocks_per_seq];
            self.block_tables[s * plan.max_blocks_per_seq..s * plan.max_blocks_per_seq + row.len()].copy_from_slice(row);
        }
        self.logits_indices.clear();
        self.logits_indices.extend_from_slice(&meta.logits_indices);
        self.max_query_len = meta.query_start_loc.windows(2).map(|w| w[1].saturating_sub(w[0]) as usize).max().unwrap_or(0);
        self.max_seq_len = meta.seq_lens.iter().map(|&l| l as usize).max().unwrap_or(0);
        cap("context length", self.max_seq_len, plan.max_model_len)?;
        Ok(())
    }
}

/// One tensor as row-major bf16 (`[rows, cols]`), dequantizing any GGUF type row by row on the host.
pub fn tensor_to_bf16(t: &WeightTensor) -> Vec<bf16> {
    let (rows, cols) = t.rows_cols();
    let mut out = vec![bf16::ZERO; rows * cols];
    out.par_chunks_mut(cols.max(1)).enumerate().for_each_init(
        || vec![0f32; cols],
        |row_f32, (r, dst)| {
            t.row_to_f32(r, row_f32);
            for (d, &v) in dst.iter_mut().zip(row_f32.iter()) {
                *d = bf16::from_f32(v);
            }
        },
    );
    out
}

/// Row concatenation of `parts` (each `[rows_i, cols]`) into one bf16 matrix `[Σ rows_i, cols]`: the
/// fused QKV and gate-up weights (vLLM's `QKVParallelLinear` / `MergedColumnParallelLinear`).
pub fn fused_rows_bf16(name: &str, parts: &[&WeightTensor]) -> Result<Vec<bf16>, CudaBackendError> {
    let cols = parts.first().map(|t| t.rows_cols().1).unwrap_or(0);
    if let Some(bad) = parts.iter().find(|t| t.rows_cols().1 != cols) {
        return Err(CudaBackendError::Weights(format!("{name}: {} has {} columns, expected {cols}", bad.name, bad.rows_cols().1)));
    }
    let mut out = Vec::with_capacity(parts.iter().map(|t| t.num_elements()).sum());
    for t in parts {
        out.extend(tensor_to_bf16(t));
    }
    Ok(out)
}

/// The uniform in [0, 1) of output token `k` of a request seeded with `seed`: the same ChaCha8 stream
/// (`stream k` of the seed's key) the CPU sampler draws from, so it is reproducible across preemption.
pub fn uniform_for_output(seed: u64, k: u64) -> f32 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(k);
    rng.gen::<f32>()
}

/// The device sampling parameters of one row.
pub fn row_params(p: &SamplingParams, seed: u64, output_index: u64) -> RowSamplingParams {
    if p.is_greedy() {
        return RowSamplingParams {
            repetition_penalty: p.repetition_penalty,
            frequency_penalty: p.frequency_penalty,
            presence_penalty: p.presence_penalty,
            ..RowSamplingParams::greedy()
        };
    }
    RowSamplingParams {
        temperature: p.temperature,
        top_k: p.top_k,
        top_p: p.top_p,
        min_p: p.min_p,
        uniform: uniform_for_output(seed, output_index),
        repetition_penalty: p.repetition_penalty,
        frequency_penalty: p.frequency_penalty,
        presence_penalty: p.presence_penalty,
    }
}

/// Appends row `row`'s penalty entries: one per distinct token of prompt ∪ output, with its count in
/// the output (the repetition penalty applies to every listed token, frequency/presence to those with
/// a count). Nothing when the request uses no penalty.
pub fn push_penalty_entries(row: u32, p: &SamplingParams, token_ids: &[u32], num_prompt: usize, out: &mut Vec<PenaltyEntry>) {
    let rep = p.repetition_penalty != 1.0;
    let freq = p.frequency_penalty != 0.0 || p.presence_penalty != 0.0;
    if !rep && !freq {
        return;
    }
    let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
    if rep {
        for &t in &token_ids[..num_prompt.min(token_ids.len())] {
            counts.entry(t).or_insert(0);
        }
    }
    for &t in token_ids.get(num_prompt..).unwrap_or(&[]) {
        *counts.entry(t).or_insert(0) += 1;
    }
    out.extend(counts.into_iter().map(|(token, output_count)| PenaltyEntry { row, token, output_count }));
}

/// Appends row `row`'s logit-bias entries (tokens outside the vocabulary are dropped, as the CPU
/// sampler ignores them).
pub fn push_logit_bias_entries(row: u32, p: &SamplingParams, vocab: usize, out: &mut Vec<LogitBiasEntry>) {
    out.extend(p.logit_bias.iter().filter(|(&t, _)| (t as usize) < vocab).map(|(&token, &bias)| LogitBiasEntry { row, token, bias }));
}

#[cfg(test)]
mod tests;

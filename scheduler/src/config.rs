//! Scheduler configuration and its validation.
//!
//! Field meanings follow vLLM's `SchedulerConfig` / `CacheConfig` (V1 semantics: chunked prefill is
//! always on; `long_prefill_token_threshold` caps how much of one prompt a step may take).

use serde::{Deserialize, Serialize};

use crate::policy::PolicyKind;

/// How the scheduler batches requests and sizes its block pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    /// Most requests RUNNING at once (rows of the decode batch).
    pub max_num_seqs: usize,
    /// The per-step token budget shared by prefill chunks and decode tokens.
    pub max_num_batched_tokens: usize,
    /// Most tokens one request may compute in one step while prefilling; `None` = only the budget
    /// limits it. Smaller values let decodes of other requests interleave with a long prefill.
    pub long_prefill_token_threshold: Option<usize>,
    /// Tokens per KV-cache block.
    pub block_size: usize,
    /// Physical KV-cache blocks (set from the backend's memory).
    pub num_blocks: usize,
    /// The model's context length: a request stops (`length`) when prompt + output reaches it.
    pub max_model_len: usize,
    /// Share KV of identical prompt prefixes between requests.
    pub enable_prefix_caching: bool,
    /// Who is admitted next and who is preempted.
    pub policy: PolicyKind,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            max_num_seqs: 64,
            max_num_batched_tokens: 512,
            long_prefill_token_threshold: None,
            block_size: 16,
            num_blocks: 1024,
            max_model_len: 8192,
            enable_prefix_caching: true,
            policy: PolicyKind::Fcfs,
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scheduler config: {field} = {value} is invalid: {reason}")]
pub struct SchedulerConfigError {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

impl SchedulerConfig {
    /// Checks that every field is usable.
    pub fn validate(&self) -> Result<(), SchedulerConfigError> {
        let bad = |field, value: usize, reason: &str| {
            Err(SchedulerConfigError { field, value: value.to_string(), reason: reason.to_string() })
        };
        if self.max_num_seqs == 0 {
            return bad("max_num_seqs", 0, "must be at least 1");
        }
        if self.max_num_batched_tokens == 0 {
            return bad("max_num_batched_tokens", 0, "must be at least 1");
        }
        if self.block_size == 0 {
            return bad("block_size", 0, "must be at least 1");
        }
        if self.num_blocks == 0 {
            return bad("num_blocks", 0, "the KV cache needs at least one block");
        }
        if self.num_blocks > u32::MAX as usize {
            return bad("num_blocks", self.num_blocks, "must fit block ids in u32");
        }
        if self.max_model_len < 2 {
            return bad("max_model_len", self.max_model_len, "must be at least 2 (one prompt token, one output)");
        }
        if self.long_prefill_token_threshold == Some(0) {
            return bad("long_prefill_token_threshold", 0, "must be at least 1 (or unset)");
        }
        Ok(())
    }

    /// Tokens the whole KV cache can hold.
    pub fn cache_capacity_tokens(&self) -> usize {
        self.num_blocks * self.block_size
    }
}

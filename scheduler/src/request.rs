//! A request as the scheduler sees it: token ids, progress counters, block hashes, status.
//!
//! Models vLLM v1 `vllm/v1/request.py`. The token vectors are private: only
//! [`Request::append_output_tokens`] mutates them, and it extends the block hashes as blocks fill,
//! so the hashes always describe exactly the full blocks of `prompt ++ output`.
//!
//! Progress is counted in tokens: `num_computed_tokens` tokens have their KV in the cache (or will
//! have, once the step they were scheduled in has run). A decoding request has exactly one
//! uncomputed token (the last sampled one); anything more is a prompt (or, after preemption, a
//! recomputed context) still being prefilled.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::block_hash::{hash_block_tokens, BlockHash};
use crate::ids::RequestId;
use crate::sampling_params::SamplingParams;

/// Why a request ended; maps 1:1 to OpenAI's `finish_reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// EOS, a stop token id or a stop string (`"stop"`).
    Stop,
    /// `max_tokens` or the model's context length reached (`"length"`).
    Length,
    /// The caller went away or cancelled (`"abort"`; never sent to a client that is gone).
    Abort,
    /// A safety filter blocked the output (`"content_filter"`).
    ContentFilter,
    /// The engine failed on this request (`"error"`).
    Error,
}

impl FinishReason {
    /// The OpenAI `finish_reason` string.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Abort => "abort",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Error => "error",
        }
    }
}

impl std::fmt::Display for FinishReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a request is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestStatus {
    /// Queued, never scheduled.
    Waiting,
    /// Holds KV blocks and is scheduled every step until it finishes or is preempted.
    Running,
    /// Lost its blocks to another request; back in the waiting queue, will recompute its tokens.
    Preempted,
    /// Done; its blocks are released.
    Finished(FinishReason),
}

/// One sequence being generated.
#[derive(Clone, Debug)]
pub struct Request {
    /// Identity for the request's whole life (engine, runner, stream).
    pub id: RequestId,
    /// Prompt token ids. Never empty (checked by `Scheduler::add_request`).
    prompt_token_ids: Vec<u32>,
    /// Tokens generated so far.
    output_token_ids: Vec<u32>,
    /// How to sample and when to stop; shared with the runner without copying the stop lists.
    pub sampling_params: Arc<SamplingParams>,
    /// The model's end-of-sequence ids (stop unless `ignore_eos`).
    pub eos_token_ids: Arc<[u32]>,
    /// Tokens whose KV is computed or scheduled to be computed this step.
    pub num_computed_tokens: usize,
    /// Prompt tokens found in the prefix cache at first admission (usage reporting, metrics).
    pub num_cached_tokens: usize,
    /// Chained hashes of every full block of `prompt ++ output` (prefix-cache keys).
    block_hashes: Vec<BlockHash>,
    /// Tokens per block, fixed when the scheduler accepts the request; 0 before that.
    block_size: usize,
    /// Extra key mixed into every block hash: requests with different salts never share KV.
    pub cache_salt: Option<String>,
    /// Lifecycle state.
    pub status: RequestStatus,
    /// Arrival time in seconds on the caller's clock (wall time in the engine, virtual time in the
    /// simulator); orders requests of equal priority.
    pub arrival_time: f64,
    /// Scheduling priority: LOWER values are served first and are preempted last (vLLM's
    /// convention). 0 by default.
    pub priority: i32,
    /// Tenant the request is billed to (fair-share policy, per-tenant metrics); `None` = anonymous.
    pub tenant: Option<Arc<str>>,
    /// Times this request lost its blocks and had to recompute.
    pub num_preemptions: u32,
}

impl Request {
    /// A waiting request. Set `priority`, `tenant`, `cache_salt`, `eos_token_ids` before handing it
    /// to the scheduler.
    pub fn new(id: RequestId, prompt_token_ids: Vec<u32>, sampling_params: SamplingParams, arrival_time: f64) -> Request {
        Request {
            id,
            prompt_token_ids,
            output_token_ids: Vec::new(),
            sampling_params: Arc::new(sampling_params),
            eos_token_ids: Arc::from(Vec::new()),
            num_computed_tokens: 0,
            num_cached_tokens: 0,
            block_hashes: Vec::new(),
            block_size: 0,
            cache_salt: None,
            status: RequestStatus::Waiting,
            arrival_time,
            priority: 0,
            tenant: None,
            num_preemptions: 0,
        }
    }

    /// Builder: the model's EOS ids.
    pub fn with_eos(mut self, eos_token_ids: impl Into<Arc<[u32]>>) -> Request {
        self.eos_token_ids = eos_token_ids.into();
        self
    }

    /// Builder: priority (lower is served first).
    pub fn with_priority(mut self, priority: i32) -> Request {
        self.priority = priority;
        self
    }

    /// Builder: tenant.
    pub fn with_tenant(mut self, tenant: impl Into<Arc<str>>) -> Request {
        self.tenant = Some(tenant.into());
        self
    }

    /// Builder: prefix-cache salt.
    pub fn with_cache_salt(mut self, salt: impl Into<String>) -> Request {
        self.cache_salt = Some(salt.into());
        self
    }

    /// Fixes the block size and hashes the prompt's full blocks (called once by the scheduler).
    pub(crate) fn init_block_hashes(&mut self, block_size: usize) {
        self.block_size = block_size;
        self.block_hashes.clear();
        self.extend_block_hashes();
    }

    /// Hashes the blocks that became full since the last call.
    fn extend_block_hashes(&mut self) {
        if self.block_size == 0 {
            return;
        }
        let bs = self.block_size;
        let num_full = self.num_tokens() / bs;
        while self.block_hashes.len() < num_full {
            let i = self.block_hashes.len();
            let parent = i.checked_sub(1).map(|p| self.block_hashes[p]);
            let start = i * bs;
            let hash = {
                let tokens = TokenRange { prompt: &self.prompt_token_ids, output: &self.output_token_ids };
                let block = tokens.collect(start, start + bs);
                hash_block_tokens(parent, &block, self.cache_salt.as_deref())
            };
            self.block_hashes.push(hash);
        }
    }

    /// Appends sampled tokens (the only way the token lists change) and hashes newly full blocks.
    pub fn append_output_tokens(&mut self, tokens: &[u32]) {
        self.output_token_ids.extend_from_slice(tokens);
        self.extend_block_hashes();
    }

    pub fn prompt_token_ids(&self) -> &[u32] {
        &self.prompt_token_ids
    }

    pub fn output_token_ids(&self) -> &[u32] {
        &self.output_token_ids
    }

    /// `prompt ++ output` (allocates; for the runner's first sight of a resumed request).
    pub fn all_token_ids(&self) -> Vec<u32> {
        let mut all = Vec::with_capacity(self.num_tokens());
        all.extend_from_slice(&self.prompt_token_ids);
        all.extend_from_slice(&self.output_token_ids);
        all
    }

    pub fn block_hashes(&self) -> &[BlockHash] {
        &self.block_hashes
    }

    pub fn num_prompt_tokens(&self) -> usize {
        self.prompt_token_ids.len()
    }

    pub fn num_output_tokens(&self) -> usize {
        self.output_token_ids.len()
    }

    /// Prompt plus output tokens.
    pub fn num_tokens(&self) -> usize {
        self.prompt_token_ids.len() + self.output_token_ids.len()
    }

    /// Tokens not yet computed (the prompt's remainder while prefilling, 1 while decoding).
    pub fn num_uncomputed_tokens(&self) -> usize {
        self.num_tokens() - self.num_computed_tokens
    }

    /// Whether the prompt (or, after preemption, the recomputed context) is still being filled.
    pub fn is_prefilling(&self) -> bool {
        self.num_uncomputed_tokens() > 1 || self.output_token_ids.is_empty()
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.status, RequestStatus::Finished(_))
    }

    /// The tenant name, `"default"` for anonymous requests.
    pub fn tenant_name(&self) -> &str {
        self.tenant.as_deref().unwrap_or("default")
    }
}

/// Read-only view of `prompt ++ output` without concatenating them.
struct TokenRange<'a> {
    prompt: &'a [u32],
    output: &'a [u32],
}

impl TokenRange<'_> {
    fn collect(&self, start: usize, end: usize) -> Vec<u32> {
        let p = self.prompt.len();
        let mut block = Vec::with_capacity(end - start);
        if start < p {
            block.extend_from_slice(&self.prompt[start..end.min(p)]);
        }
        if end > p {
            block.extend_from_slice(&self.output[start.max(p) - p..end - p]);
        }
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_hash::hash_request_blocks;

    #[test]
    fn block_hashes_track_prompt_and_output() {
        let mut r = Request::new(RequestId(1), vec![1, 2, 3, 4, 5], SamplingParams::greedy(8), 0.0)
            .with_cache_salt("s");
        r.init_block_hashes(2);
        assert_eq!(r.block_hashes(), hash_request_blocks(&[1, 2, 3, 4, 5], 2, Some("s")).as_slice());
        r.append_output_tokens(&[6]);
        r.append_output_tokens(&[7, 8, 9]);
        let all = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(r.block_hashes(), hash_request_blocks(&all, 2, Some("s")).as_slice());
        assert_eq!(r.all_token_ids(), all);
    }

    #[test]
    fn finish_reasons_use_openai_strings() {
        assert_eq!(FinishReason::ContentFilter.as_str(), "content_filter");
        assert_eq!(serde_json::to_string(&FinishReason::Length).unwrap(), "\"length\"");
    }
}

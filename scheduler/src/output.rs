//! The seams between scheduler, model runner and engine: what to run this step
//! ([`SchedulerOutput`]), what the runner produced ([`ModelRunnerOutput`]) and what each request
//! gained ([`RequestOutput`]).
//!
//! Models vLLM v1 `core/sched/output.py` and `outputs.py`. The runner keeps a persistent copy of
//! every running request (tokens, block table, sampler); the scheduler sends a request's full data
//! ONCE — when it is first scheduled or resumed after preemption — and afterwards only the diff
//! (new block ids). That keeps a step's message O(batch) instead of O(total tokens).
//!
//! [`TokenLogprob`] lives here, not in the engine, because the runner's output carries it and the
//! scheduler crate must not depend on the engine; the engine re-exports it for the server.

use std::sync::Arc;

use crate::ids::{BlockId, RequestId};
use crate::request::FinishReason;
use crate::sampling_params::SamplingParams;

/// A request the runner has not seen (or dropped at preemption): everything it needs to run it.
#[derive(Clone, Debug)]
pub struct NewRequestData {
    pub request_id: RequestId,
    /// `prompt ++ output so far`. Non-empty output only for a request resumed after preemption: the
    /// runner recomputes their KV and its sampler needs them for penalties.
    pub token_ids: Vec<u32>,
    /// How many of `token_ids` are the prompt (penalties and logprobs tell prompt from output).
    pub num_prompt_tokens: usize,
    pub sampling_params: Arc<SamplingParams>,
    /// The request's whole block table (prefix-cache hits first, then fresh blocks).
    pub block_ids: Vec<BlockId>,
    /// Tokens whose KV is already in the cache (prefix-cache hits): the runner starts feeding here.
    pub num_computed_tokens: usize,
}

/// A running request the runner already holds: only what changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedRequestData {
    pub request_id: RequestId,
    /// Blocks appended to the request's table this step (often empty during decode).
    pub new_block_ids: Vec<BlockId>,
    /// Tokens computed before this step; lets the runner check it agrees with the scheduler.
    pub num_computed_tokens: usize,
}

/// One step's plan, produced by `Scheduler::schedule` and consumed by `ModelRunner::execute`.
#[derive(Clone, Debug, Default)]
pub struct SchedulerOutput {
    /// Monotonic step counter (logs, simulator traces).
    pub step: u64,
    /// Requests scheduled for the first time or resumed after preemption (full data, once).
    pub new_requests: Vec<NewRequestData>,
    /// Requests the runner already holds (diffs only).
    pub cached_requests: Vec<CachedRequestData>,
    /// Tokens to compute per scheduled request, in batch order (new and cached requests
    /// interleaved exactly as they should be laid out in the flattened batch).
    pub num_scheduled_tokens: Vec<(RequestId, usize)>,
    /// Sum of `num_scheduled_tokens`; never above `max_num_batched_tokens`.
    pub total_num_scheduled_tokens: usize,
    /// Requests preempted in this step: the runner drops their state (they come back later as new
    /// requests). Disjoint from the scheduled ones.
    pub preempted_request_ids: Vec<RequestId>,
    /// Requests that finished or were aborted since the previous step: the runner frees their
    /// state. (Their blocks are already back in the pool.)
    pub finished_request_ids: Vec<RequestId>,
}

impl SchedulerOutput {
    /// Whether this step runs nothing (the runner can be skipped, only state drops apply).
    pub fn is_empty(&self) -> bool {
        self.num_scheduled_tokens.is_empty()
    }

    /// Tokens scheduled for `request_id` this step (0 if not scheduled).
    pub fn tokens_for(&self, request_id: RequestId) -> usize {
        self.num_scheduled_tokens.iter().find(|(id, _)| *id == request_id).map_or(0, |&(_, n)| n)
    }
}

/// Log-probability of one token at one position, with the most likely alternatives.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprob {
    pub token_id: u32,
    /// Natural-log probability under the model's raw distribution (log-softmax of the logits before
    /// penalties, bias and temperature — vLLM's default `raw_logprobs` mode).
    pub logprob: f32,
    /// The `k` most likely tokens at this position, most likely first (ties: lower id first).
    pub top: Vec<(u32, f32)>,
}

/// What the runner produced for one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelRunnerOutput {
    /// Per scheduled request (batch order): the sampled tokens. Empty for a request whose step was a
    /// non-final prefill chunk (nothing to sample yet); one token for a normal step.
    pub sampled_token_ids: Vec<(RequestId, Vec<u32>)>,
    /// For requests whose params ask `logprobs` and that sampled this step: one entry per sampled
    /// token, aligned with `sampled_token_ids` (the engine keeps the first `new_token_ids.len()`
    /// of them, since the scheduler drops tokens past a stop condition). Empty otherwise.
    pub logprobs: Vec<(RequestId, Vec<TokenLogprob>)>,
    /// For requests whose params ask `prompt_logprobs`: `(id, first, entries)` where `entries[j]`
    /// is the logprob of prompt token `first + j` given the tokens before it (`first >= 1`: the
    /// first prompt token has none). With chunked prefill a prompt's entries arrive over several
    /// steps; after a preemption they arrive again (receivers ignore positions they already have).
    pub prompt_logprobs: Vec<(RequestId, usize, Vec<TokenLogprob>)>,
}

/// What one request gained in one step (produced by `Scheduler::update_from_output`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestOutput {
    pub request_id: RequestId,
    /// Tokens accepted this step, after stop checks (a token past a stop condition is dropped; the
    /// EOS / stop token itself is kept, the text layer decides whether to show it).
    pub new_token_ids: Vec<u32>,
    /// Set on the request's last output.
    pub finish_reason: Option<FinishReason>,
    pub num_prompt_tokens: usize,
    /// Output tokens so far, including `new_token_ids`.
    pub num_output_tokens: usize,
    /// Prompt tokens served from the prefix cache at first admission.
    pub num_cached_tokens: usize,
}

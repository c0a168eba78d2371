//! The continuous-batching scheduler.
//!
//! Models vLLM v1 `core/sched/scheduler.py` (and nano-vllm's `scheduler.py`). The algorithm, one
//! call of [`Scheduler::schedule`] per engine step:
//!
//! 1. ONE token budget per step (`max_num_batched_tokens`), shared by prefill chunks and decode
//!    tokens; there are no separate prefill and decode phases.
//! 2. RUNNING requests first, in order: each asks for `num_tokens - num_computed_tokens` tokens
//!    (1 while decoding), capped by `long_prefill_token_threshold` and the remaining budget — a
//!    prompt larger than what is left is simply continued next step (chunked prefill). If its KV
//!    blocks cannot be allocated, the policy picks a victim among the running requests, which is
//!    preempted by recompute (blocks freed, `num_computed_tokens` reset to 0, put at the FRONT of
//!    the waiting queue) and the allocation is retried; if the victim is the request itself, the
//!    running pass stops.
//! 3. Only if nobody was preempted this step, WAITING requests are admitted in policy order while
//!    budget, `max_num_seqs` and blocks allow: a prefix-cache lookup skips the tokens whose KV is
//!    already cached (skipped for a request asking `prompt_logprobs`, which must compute every
//!    prompt position), the rest is allocated, the request becomes RUNNING. The first request that
//!    cannot get blocks stops admission (no overtaking by smaller requests: that would starve large
//!    ones).
//! 4. The step's [`SchedulerOutput`] is emitted and every scheduled request's `num_computed_tokens`
//!    advances by its scheduled count (the runner computes them before the next call).
//! 5. [`Scheduler::update_from_output`] appends the sampled tokens and checks the stop conditions
//!    (EOS unless `ignore_eos`, stop token ids, `max_tokens`, `max_model_len`); finished requests
//!    release their blocks. Stop STRINGS need text, so the engine checks them on its detokenized
//!    stream (see [`crate::stop_strings`]) and ends the request with [`Scheduler::finish_requests`].
//!
//! Invariants checked with `debug_assert!` after every `schedule()`: the budget is respected,
//! `running.len() <= max_num_seqs`, every running request holds exactly the blocks its computed
//! tokens need, and the pool's free blocks plus the blocks referenced by requests cover the pool.
//!
//! Complexity per step: O(running + admitted · waiting) for the policy decisions (FCFS: O(running +
//! admitted)), plus block allocation proportional to the blocks touched.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::config::{SchedulerConfig, SchedulerConfigError};
use crate::ids::{BlockId, RequestId};
use crate::kv_cache_manager::{ComputedBlocks, KvCacheManager};
use crate::output::{CachedRequestData, ModelRunnerOutput, NewRequestData, RequestOutput, SchedulerOutput};
use crate::policy::SchedulingPolicy;
use crate::request::{FinishReason, Request, RequestStatus};

/// Why a request was refused by [`Scheduler::add_request`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddRequestError {
    #[error("empty prompt: at least one token is needed")]
    EmptyPrompt,
    #[error("request id {0} is already in the scheduler")]
    DuplicateId(RequestId),
    #[error("prompt of {prompt_tokens} tokens leaves no room to generate within the context length {max_model_len}")]
    PromptTooLong { prompt_tokens: usize, max_model_len: usize },
    #[error("prompt + max_tokens = {tokens} tokens can never fit in the KV cache ({capacity} tokens = {num_blocks} blocks of {block_size})")]
    ExceedsCache { tokens: usize, capacity: usize, num_blocks: usize, block_size: usize },
}

/// Counters since the scheduler was created (metrics, simulator reports).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Steps that scheduled at least one token.
    pub num_steps: u64,
    /// Times a running request was preempted.
    pub num_preemptions: u64,
    /// Tokens looked up in the prefix cache at admission.
    pub prefix_cache_queried_tokens: u64,
    /// Of those, tokens found (their KV is reused, not computed).
    pub prefix_cache_hit_tokens: u64,
}

/// Decides, step by step, which tokens of which requests run next.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    /// Block tables and the prefix cache.
    kv: KvCacheManager,
    /// Admission order and preemption victims.
    policy: Box<dyn SchedulingPolicy>,
    /// Requests without blocks: preempted ones at the front, then arrivals.
    waiting: VecDeque<Request>,
    /// Requests holding blocks, in admission order (the batch order of the running pass).
    running: Vec<Request>,
    /// Requests that left since the last `schedule()`; the runner is told to drop their state.
    finished_since_last_step: Vec<RequestId>,
    /// Ids of every request in `waiting` or `running` (duplicate detection, O(1) membership).
    live_ids: HashSet<RequestId>,
    /// Number of `schedule()` calls so far.
    step: u64,
    stats: SchedulerStats,
}

impl Scheduler {
    /// A scheduler with an empty pool of `config.num_blocks` blocks and the configured policy.
    pub fn new(config: SchedulerConfig) -> Result<Scheduler, SchedulerConfigError> {
        let policy = config.policy.build();
        Scheduler::with_policy(config, policy)
    }

    /// A scheduler with a policy instance built by the caller (custom weights, research policies).
    pub fn with_policy(config: SchedulerConfig, policy: Box<dyn SchedulingPolicy>) -> Result<Scheduler, SchedulerConfigError> {
        config.validate()?;
        Ok(Scheduler {
            kv: KvCacheManager::new(config.num_blocks, config.block_size, config.enable_prefix_caching),
            config,
            policy,
            waiting: VecDeque::new(),
            running: Vec::new(),
            finished_since_last_step: Vec::new(),
            live_ids: HashSet::new(),
            step: 0,
            stats: SchedulerStats::default(),
        })
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    pub fn stats(&self) -> &SchedulerStats {
        &self.stats
    }

    pub fn num_waiting(&self) -> usize {
        self.waiting.len()
    }

    pub fn num_running(&self) -> usize {
        self.running.len()
    }

    /// Whether any request is waiting or running.
    pub fn has_unfinished_requests(&self) -> bool {
        !self.waiting.is_empty() || !self.running.is_empty()
    }

    /// Whether the runner still has to be told about finished requests.
    pub fn has_pending_finishes(&self) -> bool {
        !self.finished_since_last_step.is_empty()
    }

    /// Fraction of KV-cache blocks in use.
    pub fn kv_cache_usage(&self) -> f64 {
        self.kv.usage()
    }

    /// Read-only access to the block accounting (tests, metrics).
    pub fn kv_cache_manager(&self) -> &KvCacheManager {
        &self.kv
    }

    /// The request with `id`, waiting or running.
    pub fn request(&self, id: RequestId) -> Option<&Request> {
        self.running.iter().chain(self.waiting.iter()).find(|r| r.id == id)
    }

    /// Running requests in batch order.
    pub fn running(&self) -> &[Request] {
        &self.running
    }

    /// Waiting requests in queue order.
    pub fn waiting(&self) -> impl Iterator<Item = &Request> {
        self.waiting.iter()
    }

    /// Queues a request. Refuses (with the limit in the error) requests that could never run.
    pub fn add_request(&mut self, mut request: Request) -> Result<(), AddRequestError> {
        let prompt_tokens = request.num_prompt_tokens();
        if prompt_tokens == 0 {
            return Err(AddRequestError::EmptyPrompt);
        }
        if self.live_ids.contains(&request.id) {
            return Err(AddRequestError::DuplicateId(request.id));
        }
        let max_model_len = self.config.max_model_len;
        let max_tokens = request.sampling_params.max_tokens as usize;
        if prompt_tokens + max_tokens.min(1) > max_model_len {
            return Err(AddRequestError::PromptTooLong { prompt_tokens, max_model_len });
        }
        // The request stops at max_model_len; its last sampled token never needs a KV slot, but
        // every prompt token does (a max_tokens = 0 scoring request computes the whole prompt).
        let tokens = (prompt_tokens + max_tokens).min(max_model_len);
        let capacity = self.config.cache_capacity_tokens();
        if prompt_tokens.max(tokens - 1) > capacity {
            return Err(AddRequestError::ExceedsCache {
                tokens,
                capacity,
                num_blocks: self.config.num_blocks,
                block_size: self.config.block_size,
            });
        }
        if self.config.enable_prefix_caching {
            request.init_block_hashes(self.config.block_size);
        }
        request.status = RequestStatus::Waiting;
        request.num_computed_tokens = 0;
        self.live_ids.insert(request.id);
        self.policy.on_added(&request);
        self.waiting.push_back(request);
        Ok(())
    }

    /// Plans one step. See the module documentation for the algorithm.
    pub fn schedule(&mut self) -> SchedulerOutput {
        self.step += 1;
        let mut budget = self.config.max_num_batched_tokens;
        let mut scheduled: HashMap<RequestId, usize> = HashMap::new();
        let mut new_blocks: HashMap<RequestId, Vec<BlockId>> = HashMap::new();
        let mut preempted: Vec<RequestId> = Vec::new();

        // 1. Running requests, in order.
        let mut i = 0;
        while i < self.running.len() && budget > 0 {
            let num_new = self.cap_new_tokens(self.running[i].num_uncomputed_tokens(), budget);
            if num_new == 0 {
                i += 1;
                continue;
            }
            let mut self_preempted = false;
            loop {
                let req = &self.running[i];
                if let Some(blocks) =
                    self.kv.allocate_slots(req.id, req.block_hashes(), req.num_computed_tokens, num_new, &[])
                {
                    new_blocks.entry(req.id).or_default().extend(blocks);
                    break;
                }
                let victim = self.policy.select_victim(&self.running);
                let victim_id = self.preempt(victim);
                preempted.push(victim_id);
                if let Some(n) = scheduled.remove(&victim_id) {
                    budget += n;
                }
                new_blocks.remove(&victim_id);
                match victim.cmp(&i) {
                    std::cmp::Ordering::Equal => {
                        self_preempted = true;
                        break;
                    }
                    std::cmp::Ordering::Less => i -= 1,
                    std::cmp::Ordering::Greater => {}
                }
            }
            if self_preempted {
                break;
            }
            scheduled.insert(self.running[i].id, num_new);
            budget -= num_new;
            i += 1;
        }

        // 2. Waiting requests, only if nobody had to give up blocks this step.
        let mut admitted: HashSet<RequestId> = HashSet::new();
        if preempted.is_empty() {
            while budget > 0 && self.running.len() < self.config.max_num_seqs {
                let Some(index) = self.policy.select_next(&self.waiting) else { break };
                let req = &self.waiting[index];
                // Prompt logprobs need every prompt position to run through the model: no cache
                // hits for such a request (its blocks are still cached for others afterwards).
                let use_cache = self.config.enable_prefix_caching && req.sampling_params.prompt_logprobs.is_none();
                let hit = if use_cache {
                    self.kv.get_computed_blocks(req.num_tokens(), req.block_hashes())
                } else {
                    ComputedBlocks::default()
                };
                let num_new = self.cap_new_tokens(req.num_tokens() - hit.num_computed_tokens, budget);
                let Some(blocks) = self.kv.allocate_slots(req.id, req.block_hashes(), 0, num_new, &hit.blocks) else {
                    break;
                };
                let Some(mut req) = self.waiting.remove(index) else { break };
                if use_cache {
                    self.stats.prefix_cache_queried_tokens += req.num_tokens() as u64;
                    self.stats.prefix_cache_hit_tokens += hit.num_computed_tokens as u64;
                }
                if req.status == RequestStatus::Waiting {
                    req.num_cached_tokens = hit.num_computed_tokens;
                }
                req.num_computed_tokens = hit.num_computed_tokens;
                req.status = RequestStatus::Running;
                new_blocks.insert(req.id, blocks);
                scheduled.insert(req.id, num_new);
                admitted.insert(req.id);
                budget -= num_new;
                self.running.push(req);
            }
        }

        // 3. Emit the plan in batch order and advance the computed-token counters.
        let mut out = SchedulerOutput {
            step: self.step,
            preempted_request_ids: preempted,
            finished_request_ids: std::mem::take(&mut self.finished_since_last_step),
            ..SchedulerOutput::default()
        };
        for req in &mut self.running {
            let Some(&n) = scheduled.get(&req.id) else { continue };
            if admitted.contains(&req.id) {
                out.new_requests.push(NewRequestData {
                    request_id: req.id,
                    token_ids: req.all_token_ids(),
                    num_prompt_tokens: req.num_prompt_tokens(),
                    sampling_params: req.sampling_params.clone(),
                    block_ids: self.kv.block_table(req.id).to_vec(),
                    num_computed_tokens: req.num_computed_tokens,
                });
            } else {
                out.cached_requests.push(CachedRequestData {
                    request_id: req.id,
                    new_block_ids: new_blocks.remove(&req.id).unwrap_or_default(),
                    num_computed_tokens: req.num_computed_tokens,
                });
            }
            self.policy.on_scheduled(req, n);
            req.num_computed_tokens += n;
            out.num_scheduled_tokens.push((req.id, n));
            out.total_num_scheduled_tokens += n;
        }
        if out.total_num_scheduled_tokens > 0 {
            self.stats.num_steps += 1;
        }
        debug_assert!(out.total_num_scheduled_tokens <= self.config.max_num_batched_tokens);
        debug_assert!(self.running.len() <= self.config.max_num_seqs);
        #[cfg(debug_assertions)]
        if let Err(e) = self.check_block_accounting() {
            panic!("scheduler invariant broken after step {}: {e}", self.step);
        }
        out
    }

    /// Applies the runner's sampled tokens, checks stop conditions, releases finished requests.
    /// Returns one output per request that gained tokens or finished.
    pub fn update_from_output(&mut self, scheduler_output: &SchedulerOutput, runner_output: &ModelRunnerOutput) -> Vec<RequestOutput> {
        let index: HashMap<RequestId, usize> = self.running.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        let mut outputs = Vec::with_capacity(runner_output.sampled_token_ids.len());
        let mut finished: Vec<(RequestId, FinishReason)> = Vec::new();
        for (id, tokens) in &runner_output.sampled_token_ids {
            let Some(&i) = index.get(id) else { continue };
            if tokens.is_empty() || scheduler_output.tokens_for(*id) == 0 {
                continue;
            }
            let req = &mut self.running[i];
            let before = req.num_output_tokens();
            let (accepted, finish) = if req.sampling_params.max_tokens == 0 {
                // Prompt-only request (scoring): the prefill is done, nothing is generated.
                (0, Some(FinishReason::Length))
            } else {
                check_stop(req, tokens, self.config.max_model_len)
            };
            req.append_output_tokens(&tokens[..accepted]);
            if let Some(reason) = finish {
                finished.push((*id, reason));
            }
            outputs.push(RequestOutput {
                request_id: *id,
                new_token_ids: tokens[..accepted].to_vec(),
                finish_reason: finish,
                num_prompt_tokens: req.num_prompt_tokens(),
                num_output_tokens: before + accepted,
                num_cached_tokens: req.num_cached_tokens,
            });
        }
        for (id, reason) in finished {
            self.finish_request(id, reason);
        }
        outputs
    }

    /// Ends requests from outside the step loop (abort, client gone, stop string found in the
    /// text). Their blocks are released now; the runner hears of it at the next step. Returns how
    /// many of `ids` were found (unknown or already finished ids are ignored).
    pub fn finish_requests(&mut self, ids: &[RequestId], reason: FinishReason) -> usize {
        ids.iter().filter(|&&id| self.finish_request(id, reason)).count()
    }

    /// Aborts one request; `false` if it is not in the scheduler.
    pub fn abort(&mut self, id: RequestId) -> bool {
        self.finish_request(id, FinishReason::Abort)
    }

    fn finish_request(&mut self, id: RequestId, reason: FinishReason) -> bool {
        if !self.live_ids.remove(&id) {
            return false;
        }
        let mut req = if let Some(i) = self.running.iter().position(|r| r.id == id) {
            self.finished_since_last_step.push(id);
            self.running.remove(i)
        } else if let Some(i) = self.waiting.iter().position(|r| r.id == id) {
            match self.waiting.remove(i) {
                Some(req) => req,
                None => return false,
            }
        } else {
            return false;
        };
        self.kv.free(id);
        req.status = RequestStatus::Finished(reason);
        self.policy.on_finished(&req);
        true
    }

    /// Preempts `running[index]` by recompute; returns its id.
    fn preempt(&mut self, index: usize) -> RequestId {
        let mut req = self.running.remove(index);
        self.kv.free(req.id);
        req.status = RequestStatus::Preempted;
        req.num_computed_tokens = 0;
        req.num_preemptions += 1;
        self.stats.num_preemptions += 1;
        let id = req.id;
        self.waiting.push_front(req);
        id
    }

    /// Caps a request's wish by the long-prefill threshold and the remaining budget.
    fn cap_new_tokens(&self, wanted: usize, budget: usize) -> usize {
        let capped = match self.config.long_prefill_token_threshold {
            Some(threshold) => wanted.min(threshold),
            None => wanted,
        };
        capped.min(budget)
    }

    /// Checks that every running request holds exactly the blocks its computed tokens need, no
    /// waiting request holds any, and reference counts add up: each block's count equals the number
    /// of block tables containing it, and the pool's free blocks are exactly the unreferenced ones.
    /// O(blocks); called after every step in debug builds and by the property tests.
    pub fn check_block_accounting(&self) -> Result<(), String> {
        let bs = self.config.block_size;
        let mut refs = vec![0u32; self.config.num_blocks];
        for req in &self.running {
            let table = self.kv.block_table(req.id);
            if table.len() != req.num_computed_tokens.div_ceil(bs) {
                return Err(format!(
                    "{} has {} blocks for {} computed tokens (block size {bs})",
                    req.id,
                    table.len(),
                    req.num_computed_tokens
                ));
            }
            let mut seen = HashSet::new();
            for &b in table {
                if !seen.insert(b) {
                    return Err(format!("{} holds {b} twice", req.id));
                }
                refs[b.0 as usize] += 1;
            }
        }
        for req in &self.waiting {
            if !self.kv.block_table(req.id).is_empty() {
                return Err(format!("waiting {} holds blocks", req.id));
            }
        }
        let pool = self.kv.pool();
        for (b, &n) in refs.iter().enumerate() {
            let actual = pool.ref_cnt(BlockId(b as u32));
            if actual != n {
                return Err(format!("block-{b} has ref_cnt {actual} but {n} tables hold it"));
            }
        }
        let unreferenced = refs.iter().filter(|&&n| n == 0).count();
        if unreferenced != pool.num_free_blocks() {
            return Err(format!("{unreferenced} unreferenced blocks but {} free", pool.num_free_blocks()));
        }
        Ok(())
    }
}

/// How many of `tokens` (sampled for `req` this step) are kept, and whether the request finishes.
fn check_stop(req: &Request, tokens: &[u32], max_model_len: usize) -> (usize, Option<FinishReason>) {
    let params = &req.sampling_params;
    let max_tokens = params.max_tokens as usize;
    for (k, &token) in tokens.iter().enumerate() {
        let num_output = req.num_output_tokens() + k + 1;
        let num_tokens = req.num_prompt_tokens() + num_output;
        let is_eos = !params.ignore_eos && req.eos_token_ids.contains(&token);
        if is_eos || params.stop_token_ids.contains(&token) {
            return (k + 1, Some(FinishReason::Stop));
        }
        if num_output >= max_tokens || num_tokens >= max_model_len {
            return (k + 1, Some(FinishReason::Length));
        }
    }
    (tokens.len(), None)
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;

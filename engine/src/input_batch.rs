//! The model runner's persistent per-request state and the flattened inputs of one step.
//!
//! Models vLLM v1 `worker/gpu_input_batch.py` (`CachedRequestState`, `InputBatch`) and the input
//! preparation of `gpu_model_runner.py::_prepare_inputs`, in the simpler form of nano-vllm's
//! `prepare_prefill` / `prepare_decode` merged into one path (a step mixes prefill chunks and
//! decodes; there are no phases).
//!
//! The scheduler sends a request's full data once ([`NewRequestData`]) and afterwards only diffs
//! ([`CachedRequestData`]: blocks appended this step). [`InputBatch`] keeps, per request, what the
//! runner needs to build every later step on its own: the token ids (prompt, then every sampled
//! token, appended by the runner itself), the block table, how many tokens have KV, and the
//! request's [`Sampler`]. Each step, [`InputBatch::prepare_inputs`] lays the scheduled chunks out
//! in batch order — tokens `token_ids[num_computed .. num_computed + n]` of each request — and fills
//! the [`AttentionMetadata`] (positions, slot mapping, block tables, query offsets, logits rows) in
//! buffers reused across steps, so a steady decode step allocates nothing.
//!
//! Any disagreement with the scheduler (unknown request, computed-token counts that differ, a chunk
//! beyond the known tokens, a block table too short) is a [`EngineError::RunnerState`], never a
//! panic: the engine fails the step's requests and carries on.
//!
//! Complexity per step: O(scheduled tokens + Σ block-table rows) to build the inputs; state changes
//! are O(1) per request plus the new blocks.

use std::collections::HashMap;

use llmserve_models::llama::AttentionMetadata;
use llmserve_scheduler::{CachedRequestData, ModelRunnerOutput, NewRequestData, RequestId, SchedulerOutput};

use crate::sampler::Sampler;
use crate::EngineError;

/// What the runner keeps about one request between steps.
pub struct CachedRequestState {
    /// `prompt ++ output`: the scheduler's tokens at (re)admission, then every token this runner
    /// sampled (appended right after sampling, so the next decode step finds it here).
    pub token_ids: Vec<u32>,
    /// How many of `token_ids` are the prompt (the rest are outputs: the sampler's history).
    pub num_prompt_tokens: usize,
    /// Physical KV blocks in token order, as the scheduler allocated them.
    pub block_table: Vec<u32>,
    /// Tokens whose KV is in the cache or is being computed in the current step; the scheduler's
    /// diffs carry its own count, and the two must agree.
    pub num_computed_tokens: usize,
    /// Penalty state and the seeded RNG position.
    pub sampler: Sampler,
}

impl CachedRequestState {
    /// Output tokens the runner knows of.
    pub fn num_output_tokens(&self) -> usize {
        self.token_ids.len() - self.num_prompt_tokens
    }
}

/// One scheduled request of the current step, in batch order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduledChunk {
    pub request_id: RequestId,
    /// Tokens computed for it this step.
    pub num_tokens: usize,
    /// Row of the step's logits to sample from: `Some` when the chunk reaches the end of the known
    /// tokens (the last prompt chunk, or a decode), `None` for a non-final prefill chunk.
    pub logits_row: Option<usize>,
    /// Logits rows scoring prompt tokens, for a request asking `prompt_logprobs` whose chunk covers
    /// prompt positions that predict a later prompt token; `None` otherwise.
    pub prompt_rows: Option<PromptLogprobRows>,
}

/// Consecutive logits rows of one chunk that score prompt tokens: row `first_row + j` holds the
/// logits at prompt position `first_token + j - 1`, which predict prompt token `first_token + j`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PromptLogprobRows {
    /// First row of the step's logits.
    pub first_row: usize,
    /// Index in the prompt of the token the first row scores (at least 1).
    pub first_token: usize,
    /// Rows (prompt tokens scored).
    pub num_rows: usize,
}

/// All requests the runner holds, plus the current step's flattened inputs.
pub struct InputBatch {
    /// Tokens per KV-cache block (turns positions into slots).
    block_size: usize,
    /// Persistent state, keyed by request.
    requests: HashMap<RequestId, CachedRequestState>,
    /// `[num_tokens]` the step's input token ids, concatenated in batch order.
    input_token_ids: Vec<u32>,
    /// The step's attention metadata; its vectors are cleared and refilled each step.
    metadata: AttentionMetadata,
    /// `[num_seqs]` the step's scheduled requests in batch order.
    chunks: Vec<ScheduledChunk>,
}

fn state_error(msg: String) -> EngineError {
    EngineError::RunnerState(msg)
}

impl InputBatch {
    /// An empty batch for a cache with `block_size` tokens per block.
    pub fn new(block_size: usize) -> InputBatch {
        InputBatch {
            block_size: block_size.max(1),
            requests: HashMap::new(),
            input_token_ids: Vec::new(),
            metadata: AttentionMetadata::default(),
            chunks: Vec::new(),
        }
    }

    /// Requests held.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    pub fn contains(&self, id: RequestId) -> bool {
        self.requests.contains_key(&id)
    }

    pub fn get(&self, id: RequestId) -> Option<&CachedRequestState> {
        self.requests.get(&id)
    }

    pub fn get_mut(&mut self, id: RequestId) -> Option<&mut CachedRequestState> {
        self.requests.get_mut(&id)
    }

    /// Applies the step's state changes in order: drop finished and preempted requests, add new
    /// ones, apply the diffs of cached ones.
    pub fn update_states(&mut self, out: &SchedulerOutput) -> Result<(), EngineError> {
        for id in out.finished_request_ids.iter().chain(&out.preempted_request_ids) {
            self.requests.remove(id);
        }
        for new in &out.new_requests {
            self.add_request(new)?;
        }
        for cached in &out.cached_requests {
            self.apply_diff(cached)?;
        }
        Ok(())
    }

    /// Adds a request seen for the first time (or again after preemption).
    pub fn add_request(&mut self, new: &NewRequestData) -> Result<(), EngineError> {
        if self.requests.contains_key(&new.request_id) {
            return Err(state_error(format!("{} is added but the runner already holds it", new.request_id)));
        }
        if new.num_prompt_tokens == 0 || new.num_prompt_tokens > new.token_ids.len() {
            return Err(state_error(format!(
                "{}: {} prompt tokens of {} token ids",
                new.request_id,
                new.num_prompt_tokens,
                new.token_ids.len()
            )));
        }
        let (prompt, output) = new.token_ids.split_at(new.num_prompt_tokens);
        let state = CachedRequestState {
            token_ids: new.token_ids.clone(),
            num_prompt_tokens: new.num_prompt_tokens,
            block_table: new.block_ids.iter().map(|b| b.0).collect(),
            num_computed_tokens: new.num_computed_tokens,
            sampler: Sampler::with_history(new.sampling_params.clone(), prompt, output),
        };
        self.requests.insert(new.request_id, state);
        Ok(())
    }

    /// Applies a running request's diff: checks the computed-token count, appends new blocks.
    pub fn apply_diff(&mut self, diff: &CachedRequestData) -> Result<(), EngineError> {
        let state = self
            .requests
            .get_mut(&diff.request_id)
            .ok_or_else(|| state_error(format!("diff for {}, which the runner does not hold", diff.request_id)))?;
        if state.num_computed_tokens != diff.num_computed_tokens {
            return Err(state_error(format!(
                "{}: the scheduler says {} tokens are computed, the runner has {}",
                diff.request_id, diff.num_computed_tokens, state.num_computed_tokens
            )));
        }
        state.block_table.extend(diff.new_block_ids.iter().map(|b| b.0));
        Ok(())
    }

    /// Lays out the step's scheduled chunks (batch order of `out.num_scheduled_tokens`) into the
    /// input buffers and advances each request's computed-token count. Call after
    /// [`InputBatch::update_states`].
    pub fn prepare_inputs(&mut self, out: &SchedulerOutput) -> Result<(), EngineError> {
        let bs = self.block_size;
        self.input_token_ids.clear();
        self.chunks.clear();
        let m = &mut self.metadata;
        m.positions.clear();
        m.slot_mapping.clear();
        m.query_start_loc.clear();
        m.seq_lens.clear();
        m.block_tables.clear();
        m.logits_indices.clear();
        m.query_start_loc.push(0);

        // First pass: validate and find the widest block-table row.
        let mut max_blocks = 0;
        for &(id, n) in &out.num_scheduled_tokens {
            let state = self
                .requests
                .get(&id)
                .ok_or_else(|| state_error(format!("{id} is scheduled but the runner does not hold it")))?;
            let end = state.num_computed_tokens + n;
            if n == 0 || end > state.token_ids.len() {
                return Err(state_error(format!(
                    "{id}: {n} tokens scheduled after {} computed, but only {} are known",
                    state.num_computed_tokens,
                    state.token_ids.len()
                )));
            }
            if end > state.block_table.len() * bs {
                return Err(state_error(format!(
                    "{id}: {end} tokens need {} blocks of {bs}, its block table has {}",
                    end.div_ceil(bs),
                    state.block_table.len()
                )));
            }
            max_blocks = max_blocks.max(state.block_table.len());
        }
        m.max_blocks_per_seq = max_blocks;

        // Second pass: fill the buffers and advance the counters.
        for &(id, n) in &out.num_scheduled_tokens {
            let Some(state) = self.requests.get_mut(&id) else {
                return Err(state_error(format!("{id} vanished while preparing the step")));
            };
            let start = state.num_computed_tokens;
            let end = start + n;
            self.input_token_ids.extend_from_slice(&state.token_ids[start..end]);
            for pos in start..end {
                m.positions.push(pos as u32);
                let block = state.block_table[pos / bs];
                m.slot_mapping.push(block * bs as u32 + (pos % bs) as u32);
            }
            // Prompt logprobs: the logits at every chunk position p with p + 1 < prompt length
            // (they score prompt token p + 1). Disjoint from the sampling row, which sits at or
            // after the last prompt position.
            let prompt_rows = match state.sampler.params().prompt_logprobs {
                Some(_) if start + 1 < state.num_prompt_tokens => {
                    let scored_end = end.min(state.num_prompt_tokens - 1);
                    let first_row = m.logits_indices.len();
                    let chunk_offset = m.positions.len() - n;
                    m.logits_indices.extend((chunk_offset..chunk_offset + scored_end - start).map(|t| t as u32));
                    Some(PromptLogprobRows { first_row, first_token: start + 1, num_rows: scored_end - start })
                }
                _ => None,
            };
            let logits_row = if end == state.token_ids.len() {
                m.logits_indices.push(m.positions.len() as u32 - 1);
                Some(m.logits_indices.len() - 1)
            } else {
                None
            };
            m.query_start_loc.push(m.positions.len() as u32);
            m.seq_lens.push(end as u32);
            m.block_tables.extend_from_slice(&state.block_table);
            m.block_tables.extend(std::iter::repeat_n(0, max_blocks - state.block_table.len()));
            state.num_computed_tokens = end;
            self.chunks.push(ScheduledChunk { request_id: id, num_tokens: n, logits_row, prompt_rows });
        }
        Ok(())
    }

    /// `[num_tokens]` input ids of the prepared step.
    pub fn input_token_ids(&self) -> &[u32] {
        &self.input_token_ids
    }

    /// Attention metadata of the prepared step.
    pub fn metadata(&self) -> &AttentionMetadata {
        &self.metadata
    }

    /// The prepared step's requests in batch order.
    pub fn chunks(&self) -> &[ScheduledChunk] {
        &self.chunks
    }

    /// Rows of logits the prepared step produces (requests to sample, plus prompt positions of
    /// requests asking `prompt_logprobs`).
    pub fn num_logits_rows(&self) -> usize {
        self.metadata.logits_indices.len()
    }

    /// The step's output in batch order: for each chunk that reaches the end of its tokens,
    /// `pick(logits_row, request_id, state)` chooses the token, which is recorded in the request's
    /// sampler and appended to its tokens; non-final prefill chunks get no token. Both backends end
    /// a step here (logprobs, if any, are the caller's to add).
    pub fn collect_sampled(
        &mut self,
        mut pick: impl FnMut(usize, RequestId, &mut CachedRequestState) -> u32,
    ) -> Result<ModelRunnerOutput, EngineError> {
        let mut sampled = Vec::with_capacity(self.chunks.len());
        for chunk in &self.chunks {
            let Some(row) = chunk.logits_row else {
                sampled.push((chunk.request_id, Vec::new()));
                continue;
            };
            let Some(state) = self.requests.get_mut(&chunk.request_id) else {
                return Err(EngineError::RunnerState(format!("{} vanished before sampling", chunk.request_id)));
            };
            let token = pick(row, chunk.request_id, state);
            state.sampler.record(token);
            state.token_ids.push(token);
            sampled.push((chunk.request_id, vec![token]));
        }
        Ok(ModelRunnerOutput { sampled_token_ids: sampled, ..ModelRunnerOutput::default() })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use llmserve_models::llama::metadata::SequenceChunk;
    use llmserve_scheduler::{BlockId, SamplingParams};

    use super::*;

    fn new_request(id: u64, tokens: Vec<u32>, prompt: usize, blocks: &[u32], computed: usize) -> NewRequestData {
        NewRequestData {
            request_id: RequestId(id),
            token_ids: tokens,
            num_prompt_tokens: prompt,
            sampling_params: Arc::new(SamplingParams::greedy(4)),
            block_ids: blocks.iter().map(|&b| BlockId(b)).collect(),
            num_computed_tokens: computed,
        }
    }

    #[test]
    fn inputs_match_the_reference_metadata_builder() {
        let mut batch = InputBatch::new(4);
        // Request 1: 6 prompt tokens, 4 cached (prefix hit), 2 new → sampled. Request 2: a 9-token
        // prompt, first chunk of 5 → not sampled.
        let out = SchedulerOutput {
            new_requests: vec![
                new_request(1, vec![10, 11, 12, 13, 14, 15], 6, &[7, 3], 4),
                new_request(2, (20..29).collect(), 9, &[5, 9], 0),
            ],
            num_scheduled_tokens: vec![(RequestId(1), 2), (RequestId(2), 5)],
            total_num_scheduled_tokens: 7,
            ..Default::default()
        };
        batch.update_states(&out).unwrap();
        batch.prepare_inputs(&out).unwrap();
        assert_eq!(batch.input_token_ids(), &[14, 15, 20, 21, 22, 23, 24]);
        let want = AttentionMetadata::for_sequences(
            &[
                SequenceChunk { num_cached: 4, num_new: 2, block_table: &[7, 3], wants_logits: true },
                SequenceChunk { num_cached: 0, num_new: 5, block_table: &[5, 9], wants_logits: false },
            ],
            4,
        )
        .unwrap();
        assert_eq!(batch.metadata(), &want);
        assert_eq!(batch.chunks()[0].logits_row, Some(0));
        assert_eq!(batch.chunks()[1].logits_row, None);

        // Next step: request 2 continues with a new block; request 1 decodes its sampled token.
        batch.get_mut(RequestId(1)).unwrap().token_ids.push(99);
        let out = SchedulerOutput {
            cached_requests: vec![
                CachedRequestData { request_id: RequestId(2), new_block_ids: vec![BlockId(1)], num_computed_tokens: 5 },
                CachedRequestData { request_id: RequestId(1), new_block_ids: vec![BlockId(4)], num_computed_tokens: 6 },
            ],
            num_scheduled_tokens: vec![(RequestId(2), 4), (RequestId(1), 1)],
            total_num_scheduled_tokens: 5,
            ..Default::default()
        };
        batch.update_states(&out).unwrap();
        batch.prepare_inputs(&out).unwrap();
        assert_eq!(batch.input_token_ids(), &[25, 26, 27, 28, 99]);
        assert_eq!(batch.metadata().positions, vec![5, 6, 7, 8, 6]);
        assert_eq!(batch.metadata().slot_mapping, vec![9 * 4 + 1, 9 * 4 + 2, 9 * 4 + 3, 4, 3 * 4 + 2]);
        assert_eq!(batch.metadata().logits_indices, vec![3, 4]);
        assert_eq!(batch.metadata().block_tables, vec![5, 9, 1, 7, 3, 4]);
    }

    #[test]
    fn prompt_logprobs_add_a_row_per_scored_prompt_position() {
        let mut batch = InputBatch::new(4);
        let mut scoring = new_request(2, (20..27).collect(), 7, &[5, 9], 0);
        scoring.sampling_params = Arc::new(SamplingParams { prompt_logprobs: Some(1), ..SamplingParams::greedy(4) });
        // Request 1 decodes-ready (no prompt logprobs); request 2's 7-token prompt in chunks of 4 + 3.
        let out = SchedulerOutput {
            new_requests: vec![new_request(1, vec![1, 2], 2, &[0], 0), scoring],
            num_scheduled_tokens: vec![(RequestId(1), 2), (RequestId(2), 4)],
            ..Default::default()
        };
        batch.update_states(&out).unwrap();
        batch.prepare_inputs(&out).unwrap();
        // Tokens: [1, 2 | 20, 21, 22, 23]; request 1 samples at row 1, request 2 scores positions 0..4.
        assert_eq!(batch.metadata().logits_indices, vec![1, 2, 3, 4, 5]);
        assert_eq!(batch.chunks()[0].logits_row, Some(0));
        assert_eq!(batch.chunks()[0].prompt_rows, None);
        assert_eq!(batch.chunks()[1].logits_row, None);
        assert_eq!(batch.chunks()[1].prompt_rows, Some(PromptLogprobRows { first_row: 1, first_token: 1, num_rows: 4 }));

        // Last chunk (positions 4..7): positions 4 and 5 score tokens 5 and 6; position 6 samples.
        let out = SchedulerOutput {
            cached_requests: vec![CachedRequestData { request_id: RequestId(2), new_block_ids: vec![], num_computed_tokens: 4 }],
            num_scheduled_tokens: vec![(RequestId(2), 3)],
            ..Default::default()
        };
        batch.update_states(&out).unwrap();
        batch.prepare_inputs(&out).unwrap();
        assert_eq!(batch.metadata().logits_indices, vec![0, 1, 2]);
        assert_eq!(batch.chunks()[0].prompt_rows, Some(PromptLogprobRows { first_row: 0, first_token: 5, num_rows: 2 }));
        assert_eq!(batch.chunks()[0].logits_row, Some(2));

        // A decode step scores no prompt token.
        batch.get_mut(RequestId(2)).unwrap().token_ids.push(99);
        let out = SchedulerOutput {
            cached_requests: vec![CachedRequestData { request_id: RequestId(2), new_block_ids: vec![BlockId(3)], num_computed_tokens: 7 }],
            num_scheduled_tokens: vec![(RequestId(2), 1)],
            ..Default::default()
        };
        batch.update_states(&out).unwrap();
        batch.prepare_inputs(&out).unwrap();
        assert_eq!(batch.chunks()[0].prompt_rows, None);
        assert_eq!(batch.num_logits_rows(), 1);
    }

    #[test]
    fn disagreements_with_the_scheduler_are_errors() {
        let mut batch = InputBatch::new(4);
        let out = SchedulerOutput {
            new_requests: vec![new_request(1, vec![1, 2, 3], 3, &[0], 0)],
            num_scheduled_tokens: vec![(RequestId(1), 3)],
            ..Default::default()
        };
        batch.update_states(&out).unwrap();
        batch.prepare_inputs(&out).unwrap();
        // Wrong computed count.
        let diff = CachedRequestData { request_id: RequestId(1), new_block_ids: vec![], num_computed_tokens: 2 };
        assert!(matches!(batch.apply_diff(&diff), Err(EngineError::RunnerState(_))));
        // Adding it twice.
        assert!(batch.add_request(&out.new_requests[0]).is_err());
        // Scheduling beyond the known tokens (no sampled token appended yet).
        let step = SchedulerOutput { num_scheduled_tokens: vec![(RequestId(1), 1)], ..Default::default() };
        assert!(batch.prepare_inputs(&step).is_err());
        // Unknown request.
        let step = SchedulerOutput { num_scheduled_tokens: vec![(RequestId(7), 1)], ..Default::default() };
        assert!(batch.prepare_inputs(&step).is_err());
        // Finishing drops the state.
        let step = SchedulerOutput { finished_request_ids: vec![RequestId(1)], ..Default::default() };
        batch.update_states(&step).unwrap();
        assert!(batch.is_empty());
    }
}

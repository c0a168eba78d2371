//! Scenario tests: hand-built runner outputs, exact scheduled token counts per step.

use std::sync::Arc;

use super::*;
use crate::config::SchedulerConfig;
use crate::policy::PolicyKind;
use crate::sampling_params::SamplingParams;

const EOS: u32 = 999;

fn config(max_num_batched_tokens: usize, num_blocks: usize) -> SchedulerConfig {
    SchedulerConfig {
        max_num_seqs: 8,
        max_num_batched_tokens,
        long_prefill_token_threshold: None,
        block_size: 4,
        num_blocks,
        max_model_len: 1024,
        enable_prefix_caching: true,
        policy: PolicyKind::Fcfs,
    }
}

/// A prompt of `len` tokens starting at `first` (distinct starts never share blocks).
fn prompt(first: u32, len: usize) -> Vec<u32> {
    (first..first + len as u32).collect()
}

fn request(id: u64, prompt_ids: Vec<u32>, max_tokens: u32) -> Request {
    Request::new(RequestId(id), prompt_ids, SamplingParams::greedy(max_tokens), id as f64).with_eos(vec![EOS])
}

/// Runs one step with a runner that samples `token_for(id)` for every request whose scheduled chunk
/// reaches the end of its tokens. Returns the plan (as (id, tokens) pairs) and the outputs.
fn step_with(s: &mut Scheduler, token_for: impl Fn(RequestId) -> u32) -> (SchedulerOutput, Vec<RequestOutput>) {
    let out = s.schedule();
    s.check_block_accounting().unwrap();
    let sampled = out
        .num_scheduled_tokens
        .iter()
        .map(|&(id, _)| {
            let req = s.request(id).expect("scheduled request is live");
            let done = req.num_computed_tokens == req.num_tokens();
            (id, if done { vec![token_for(id)] } else { vec![] })
        })
        .collect();
    let outputs = s.update_from_output(&out, &ModelRunnerOutput { sampled_token_ids: sampled, ..Default::default() });
    s.check_block_accounting().unwrap();
    (out, outputs)
}

fn step(s: &mut Scheduler) -> (SchedulerOutput, Vec<RequestOutput>) {
    step_with(s, |id| 100 + id.0 as u32)
}

fn plan(out: &SchedulerOutput) -> Vec<(u64, usize)> {
    out.num_scheduled_tokens.iter().map(|&(id, n)| (id.0, n)).collect()
}

#[test]
fn chunked_prefill_splits_a_long_prompt_over_the_budget() {
    let mut s = Scheduler::new(config(8, 64)).unwrap();
    s.add_request(request(1, prompt(0, 20), 3)).unwrap();
    let (out, outputs) = step(&mut s);
    assert_eq!(plan(&out), [(1, 8)]);
    assert_eq!(out.new_requests.len(), 1);
    assert_eq!(out.new_requests[0].block_ids.len(), 2, "8 tokens = 2 blocks of 4");
    assert!(outputs.is_empty(), "a non-final chunk samples nothing");
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 8)]);
    assert_eq!(out.cached_requests[0].new_block_ids.len(), 2);
    assert_eq!(out.cached_requests[0].num_computed_tokens, 8);
    let (out, outputs) = step(&mut s);
    assert_eq!(plan(&out), [(1, 4)], "the prompt's remainder");
    assert_eq!(outputs[0].new_token_ids, [101]);
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 1)], "then one decode token per step");
}

#[test]
fn long_prefill_threshold_caps_each_chunk_and_lets_others_in() {
    let mut cfg = config(16, 64);
    cfg.long_prefill_token_threshold = Some(6);
    let mut s = Scheduler::new(cfg).unwrap();
    s.add_request(request(1, prompt(0, 20), 3)).unwrap();
    s.add_request(request(2, prompt(100, 5), 3)).unwrap();
    s.add_request(request(3, prompt(200, 30), 3)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 6), (2, 5), (3, 5)]);
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 6), (2, 1), (3, 6)]);
}

#[test]
fn running_decodes_are_scheduled_before_new_prefills() {
    let mut s = Scheduler::new(config(10, 64)).unwrap();
    s.add_request(request(1, prompt(0, 3), 10)).unwrap();
    s.add_request(request(2, prompt(100, 4), 10)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 3), (2, 4)]);
    s.add_request(request(3, prompt(200, 30), 10)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 1), (2, 1), (3, 8)], "decodes first, the prefill takes what is left");
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 1), (2, 1), (3, 8)]);
}

#[test]
fn max_num_seqs_limits_admission() {
    let mut cfg = config(100, 64);
    cfg.max_num_seqs = 2;
    let mut s = Scheduler::new(cfg).unwrap();
    for id in 1..=3 {
        s.add_request(request(id, prompt(100 * id as u32, 4), 2)).unwrap();
    }
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 4), (2, 4)]);
    assert_eq!(s.num_waiting(), 1);
    let (out, outputs) = step(&mut s);
    assert_eq!(plan(&out), [(1, 1), (2, 1)]);
    assert!(outputs.iter().all(|o| o.finish_reason == Some(FinishReason::Length)));
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(3, 4)]);
    assert_eq!(out.finished_request_ids, [RequestId(1), RequestId(2)]);
}

#[test]
fn preemption_when_blocks_run_out_and_exact_resumption() {
    // 4 blocks of 4 tokens = 16 slots. Two requests of 7 prompt tokens (2 blocks each) fill the
    // cache after 1 decode token each; the next decode needs a 5th block.
    let mut s = Scheduler::new(config(32, 4)).unwrap();
    s.add_request(request(1, prompt(0, 7), 6)).unwrap();
    s.add_request(request(2, prompt(100, 7), 6)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 7), (2, 7)]);
    assert_eq!(s.kv_cache_manager().num_free_blocks(), 0);
    let (out, _) = step(&mut s); // position 7 still fits in block 2 of each
    assert_eq!(plan(&out), [(1, 1), (2, 1)]);
    // Both now need a third block; request 1 (first in order) gets request 2's (the FCFS victim).
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 1)]);
    assert_eq!(out.preempted_request_ids, [RequestId(2)]);
    assert_eq!(s.stats().num_preemptions, 1);
    let victim = s.request(RequestId(2)).unwrap();
    assert_eq!((victim.status, victim.num_computed_tokens, victim.num_output_tokens()), (RequestStatus::Preempted, 0, 2));
    assert!(s.kv_cache_manager().block_table(RequestId(2)).is_empty());
    // Request 1 runs to its end alone (3 blocks for up to 12 tokens), request 2 waits.
    let mut finished = false;
    while !finished {
        let (out, outputs) = step(&mut s);
        assert_eq!(plan(&out), [(1, 1)]);
        finished = outputs[0].finish_reason.is_some();
    }
    // Request 2 resumes: recomputes prompt + its 2 outputs (9 tokens; the prefix cache still holds
    // its first full blocks, freed but not evicted, so only the uncached tail is computed).
    let (out, outputs) = step(&mut s);
    let resumed = &out.new_requests[0];
    assert_eq!(resumed.request_id, RequestId(2));
    assert_eq!(resumed.token_ids, [100, 101, 102, 103, 104, 105, 106, 102, 102]);
    assert_eq!(resumed.num_prompt_tokens, 7);
    let cached = resumed.num_computed_tokens;
    assert_eq!(cached % 4, 0);
    assert_eq!(plan(&out), [(2, 9 - cached)]);
    assert_eq!(outputs[0].new_token_ids, [102], "samples the 3rd token after recompute");
    assert_eq!(outputs[0].num_output_tokens, 3);
    while s.has_unfinished_requests() {
        step(&mut s);
    }
    assert_eq!(s.kv_cache_manager().num_free_blocks(), 4);
}

#[test]
fn prefix_cache_hit_skips_computed_tokens() {
    let mut s = Scheduler::new(config(64, 64)).unwrap();
    let shared = prompt(0, 10);
    s.add_request(request(1, shared.clone(), 4)).unwrap();
    step(&mut s);
    // Same 10-token prompt: the two full blocks (8 tokens) are reused, 2 tokens computed.
    let mut p2 = shared.clone();
    p2.extend([500, 501, 502]);
    s.add_request(request(2, p2, 4)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 1), (2, 5)]);
    let new = &out.new_requests[0];
    assert_eq!(new.num_computed_tokens, 8);
    let t1 = s.kv_cache_manager().block_table(RequestId(1)).to_vec();
    assert_eq!(&new.block_ids[..2], &t1[..2], "the same physical blocks, no copy");
    assert_eq!(s.request(RequestId(2)).unwrap().num_cached_tokens, 8);
    assert_eq!(s.stats().prefix_cache_hit_tokens, 8);
    // A whole-prompt hit still computes the last token (its logits are needed).
    s.add_request(request(3, prompt(0, 8), 4)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(out.tokens_for(RequestId(3)), 4, "8 tokens: block 1 hit, the last block recomputed");
}

#[test]
fn identical_prompts_admitted_together_share_blocks_in_the_same_step() {
    // n > 1 samples of one prompt arrive together: the second hits the blocks the first allocates.
    let mut s = Scheduler::new(config(64, 64)).unwrap();
    s.add_request(request(1, prompt(0, 9), 4)).unwrap();
    s.add_request(request(2, prompt(0, 9), 4)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 9), (2, 1)]);
    assert_eq!(s.kv_cache_manager().num_free_blocks(), 64 - 3 - 1);
}

#[test]
fn prompt_logprobs_requests_take_no_prefix_hits_but_leave_their_blocks_cached() {
    let mut s = Scheduler::new(config(64, 64)).unwrap();
    s.add_request(request(1, prompt(0, 10), 4)).unwrap();
    step(&mut s);
    // Same prompt with prompt_logprobs: every position is computed, nothing counted as a hit.
    let params = SamplingParams { prompt_logprobs: Some(2), ..SamplingParams::greedy(4) };
    s.add_request(Request::new(RequestId(2), prompt(0, 10), params, 2.0).with_eos(vec![EOS])).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 1), (2, 10)]);
    assert_eq!(out.new_requests[0].num_computed_tokens, 0);
    assert_eq!(s.request(RequestId(2)).unwrap().num_cached_tokens, 0);
    assert_eq!(s.stats().prefix_cache_queried_tokens, 10, "only request 1 queried the cache");
    // Its blocks are cached for others: request 1 finishes, request 3 still hits 2 blocks.
    s.abort(RequestId(1));
    s.add_request(request(3, prompt(0, 10), 4)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(out.tokens_for(RequestId(3)), 2);
}

#[test]
fn cache_salt_prevents_sharing() {
    let mut s = Scheduler::new(config(64, 64)).unwrap();
    s.add_request(request(1, prompt(0, 9), 4).with_cache_salt("tenant-a")).unwrap();
    s.add_request(request(2, prompt(0, 9), 4).with_cache_salt("tenant-b")).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 9), (2, 9)]);
}

#[test]
fn stop_conditions() {
    let mut s = Scheduler::new(config(64, 64)).unwrap();
    s.add_request(request(1, prompt(0, 3), 10)).unwrap(); // EOS
    let mut ignore = request(2, prompt(10, 3), 2);
    Arc::make_mut(&mut ignore.sampling_params).ignore_eos = true;
    s.add_request(ignore).unwrap(); // ignores EOS, stops on length
    let mut stop_id = request(3, prompt(20, 3), 10);
    Arc::make_mut(&mut stop_id.sampling_params).stop_token_ids = vec![7];
    s.add_request(stop_id).unwrap();
    s.add_request(request(4, prompt(30, 3), 0)).unwrap(); // scoring only
    let (_, outputs) = step_with(&mut s, |id| if id.0 == 3 { 7 } else { EOS });
    let by_id = |id: u64| outputs.iter().find(|o| o.request_id == RequestId(id)).unwrap().clone();
    assert_eq!((by_id(1).new_token_ids, by_id(1).finish_reason), (vec![EOS], Some(FinishReason::Stop)));
    assert_eq!((by_id(2).new_token_ids, by_id(2).finish_reason), (vec![EOS], None));
    assert_eq!((by_id(3).new_token_ids, by_id(3).finish_reason), (vec![7], Some(FinishReason::Stop)));
    assert_eq!((by_id(4).new_token_ids, by_id(4).finish_reason), (vec![], Some(FinishReason::Length)));
    let (_, outputs) = step_with(&mut s, |_| EOS);
    assert_eq!(outputs[0].finish_reason, Some(FinishReason::Length));
    assert_eq!(outputs[0].num_output_tokens, 2);
    assert!(!s.has_unfinished_requests());
}

#[test]
fn max_model_len_ends_a_request() {
    let mut cfg = config(64, 64);
    cfg.max_model_len = 6;
    let mut s = Scheduler::new(cfg).unwrap();
    s.add_request(request(1, prompt(0, 4), 100)).unwrap();
    step(&mut s);
    let (_, outputs) = step(&mut s);
    assert_eq!((outputs[0].num_output_tokens, outputs[0].finish_reason), (2, Some(FinishReason::Length)));
}

#[test]
fn bad_requests_are_refused_with_the_limit() {
    let mut cfg = config(64, 4);
    cfg.max_model_len = 100;
    let mut s = Scheduler::new(cfg).unwrap();
    assert_eq!(s.add_request(request(1, vec![], 4)), Err(AddRequestError::EmptyPrompt));
    let err = s.add_request(request(1, prompt(0, 100), 4)).unwrap_err();
    assert_eq!(err, AddRequestError::PromptTooLong { prompt_tokens: 100, max_model_len: 100 });
    let err = s.add_request(request(1, prompt(0, 10), 20)).unwrap_err();
    assert!(err.to_string().contains("16 tokens"), "{err}");
    s.add_request(request(1, prompt(0, 10), 7)).unwrap();
    assert_eq!(s.add_request(request(1, prompt(0, 3), 1)), Err(AddRequestError::DuplicateId(RequestId(1))));
    assert!(Scheduler::new(config(0, 4)).unwrap_err().to_string().contains("max_num_batched_tokens"));
}

#[test]
fn abort_frees_blocks_and_tells_the_runner() {
    let mut s = Scheduler::new(config(64, 64)).unwrap();
    s.add_request(request(1, prompt(0, 9), 10)).unwrap();
    s.add_request(request(2, prompt(100, 9), 10)).unwrap();
    step(&mut s);
    assert!(s.abort(RequestId(1)));
    assert!(!s.abort(RequestId(1)), "a second abort finds nothing");
    assert!(!s.abort(RequestId(77)));
    assert_eq!(s.kv_cache_manager().block_table(RequestId(1)), &[]);
    let (out, _) = step(&mut s);
    assert_eq!(out.finished_request_ids, [RequestId(1)]);
    assert_eq!(plan(&out), [(2, 1)]);
    // Aborting a waiting request never reaches the runner.
    s.add_request(request(3, prompt(200, 4), 10)).unwrap();
    assert_eq!(s.finish_requests(&[RequestId(3), RequestId(2)], FinishReason::Abort), 2);
    let out = s.schedule();
    assert_eq!(out.finished_request_ids, [RequestId(2)]);
    assert!(out.is_empty());
    assert_eq!(s.kv_cache_manager().num_free_blocks(), 64);
}

#[test]
fn priority_policy_admits_lowest_value_first_and_preempts_highest() {
    let mut cfg = config(8, 64);
    cfg.policy = PolicyKind::Priority;
    let mut s = Scheduler::new(cfg).unwrap();
    s.add_request(request(1, prompt(0, 8), 4).with_priority(5)).unwrap();
    s.add_request(request(2, prompt(100, 8), 4).with_priority(0)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(2, 8)]);
    // Victim choice: with 5 blocks, a low-priority runner is preempted for a high-priority one.
    let mut cfg = config(64, 5);
    cfg.policy = PolicyKind::Priority;
    let mut s = Scheduler::new(cfg).unwrap();
    s.add_request(request(1, prompt(0, 8), 8).with_priority(0)).unwrap();
    s.add_request(request(2, prompt(100, 8), 8).with_priority(9)).unwrap();
    step(&mut s); // 4 blocks used, 1 free
    // Request 1 takes the last block for position 8; request 2 needs one too and is its own victim.
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 1)]);
    assert_eq!(out.preempted_request_ids, [RequestId(2)]);
}

#[test]
fn victim_already_scheduled_this_step_returns_its_budget() {
    // Running order [1, 2]; request 2 needs a block and the priority victim is request 1, which
    // was already scheduled this step: its tokens are withdrawn and 2 takes its block.
    let mut cfg = config(64, 4);
    cfg.policy = PolicyKind::Priority;
    let mut s = Scheduler::new(cfg).unwrap();
    s.add_request(request(1, prompt(0, 5), 8).with_priority(9)).unwrap();
    step(&mut s);
    s.add_request(request(2, prompt(100, 8), 8).with_priority(0)).unwrap();
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(1, 1), (2, 8)]);
    assert_eq!(s.kv_cache_manager().num_free_blocks(), 0);
    let (out, _) = step(&mut s);
    assert_eq!(plan(&out), [(2, 1)]);
    assert_eq!(out.total_num_scheduled_tokens, 1);
    assert_eq!(out.preempted_request_ids, [RequestId(1)]);
    assert!(out.cached_requests.iter().all(|c| c.request_id == RequestId(2)));
}

#[test]
fn fair_share_admits_the_least_served_tenant() {
    let mut cfg = config(8, 64);
    cfg.policy = PolicyKind::FairShare;
    cfg.max_num_seqs = 1;
    let mut s = Scheduler::new(cfg).unwrap();
    for id in 1..=4 {
        s.add_request(request(id, prompt(100 * id as u32, 4), 1).with_tenant("heavy")).unwrap();
    }
    s.add_request(request(5, prompt(900, 4), 1).with_tenant("light")).unwrap();
    let order: Vec<u64> = (0..5).map(|_| plan(&step(&mut s).0)[0].0).collect();
    assert_eq!(order, [1, 5, 2, 3, 4], "light is served right after heavy's first request");
}

#[test]
fn shortest_prompt_first_admits_short_prompts_first() {
    let mut cfg = config(4, 64);
    cfg.policy = PolicyKind::ShortestPromptFirst;
    cfg.max_num_seqs = 1;
    let mut s = Scheduler::new(cfg).unwrap();
    s.add_request(request(1, prompt(0, 12), 1)).unwrap();
    s.add_request(request(2, prompt(100, 3), 1)).unwrap();
    s.add_request(request(3, prompt(200, 2), 1)).unwrap();
    let first: Vec<u64> = (0..3).map(|_| plan(&step(&mut s).0)[0].0).collect();
    assert_eq!(first, [3, 2, 1]);
}

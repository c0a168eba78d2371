//! Property tests of the scheduler's block accounting on random add / step / abort / finish
//! sequences, under every policy, with and without prefix caching: reference counts always match
//! the block tables (never negative, a block never owned twice by one request), free + used blocks
//! = total, the budget and `max_num_seqs` hold every step, every request eventually finishes, and
//! every block returns to the pool when all requests end or are aborted.

use llmserve_scheduler::{
    FinishReason, ModelRunnerOutput, PolicyKind, Request, RequestId, SamplingParams, Scheduler, SchedulerConfig,
};
use proptest::prelude::*;

const EOS: u32 = 0;

#[derive(Clone, Debug)]
enum Op {
    /// Add a request: prompt length, max_tokens, shared-prefix group (0 = none), priority, tenant.
    Add { prompt_len: usize, max_tokens: u32, group: u8, priority: i32, tenant: u8 },
    /// Run one step; the runner samples EOS for requests whose id is divisible by `eos_every`.
    Step { eos_every: u64 },
    /// Abort the k-th live request (modulo the live count).
    Abort { k: usize },
    /// End the k-th live request from outside (a stop string found in its text).
    StopString { k: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1usize..40, 0u32..12, 0u8..3, 0i32..3, 0u8..3).prop_map(|(prompt_len, max_tokens, group, priority, tenant)| Op::Add {
            prompt_len, max_tokens, group, priority, tenant
        }),
        6 => (2u64..9).prop_map(|eos_every| Op::Step { eos_every }),
        1 => any::<usize>().prop_map(|k| Op::Abort { k }),
        1 => any::<usize>().prop_map(|k| Op::StopString { k }),
    ]
}

fn config() -> impl Strategy<Value = SchedulerConfig> {
    (1usize..6, 1usize..48, 4usize..40, 1usize..6, proptest::option::of(1usize..12), any::<bool>(), 0usize..4).prop_map(
        |(max_num_seqs, max_num_batched_tokens, num_blocks, block_size, threshold, caching, policy)| SchedulerConfig {
            max_num_seqs,
            max_num_batched_tokens,
            long_prefill_token_threshold: threshold,
            block_size,
            num_blocks,
            max_model_len: 48,
            enable_prefix_caching: caching,
            policy: PolicyKind::ALL[policy].0,
        },
    )
}

fn prompt(id: u64, len: usize, group: u8) -> Vec<u32> {
    // Requests of one group share their first 16 tokens (prefix-cache hits); others never collide.
    (0..len as u32).map(|i| if group > 0 && i < 16 { 1000 * group as u32 + i } else { 100_000 + id as u32 * 100 + i }).collect()
}

/// One step with a runner that samples for every request whose chunk completes its tokens.
fn step(s: &mut Scheduler, eos_every: u64) -> Result<(), TestCaseError> {
    let out = s.schedule();
    let config = s.config().clone();
    prop_assert!(out.total_num_scheduled_tokens <= config.max_num_batched_tokens);
    prop_assert!(s.num_running() <= config.max_num_seqs);
    prop_assert_eq!(out.total_num_scheduled_tokens, out.num_scheduled_tokens.iter().map(|(_, n)| n).sum::<usize>());
    for id in &out.preempted_request_ids {
        prop_assert!(out.tokens_for(*id) == 0, "preempted {} is also scheduled", id);
    }
    if let Err(e) = s.check_block_accounting() {
        return Err(TestCaseError::fail(e));
    }
    let sampled = out
        .num_scheduled_tokens
        .iter()
        .map(|&(id, _)| {
            let req = s.request(id).expect("scheduled requests are live");
            let done = req.num_computed_tokens == req.num_tokens();
            let token = if id.0 % eos_every == 0 { EOS } else { 7 };
            (id, if done { vec![token] } else { vec![] })
        })
        .collect();
    s.update_from_output(&out, &ModelRunnerOutput { sampled_token_ids: sampled, ..Default::default() });
    if let Err(e) = s.check_block_accounting() {
        return Err(TestCaseError::fail(e));
    }
    s.kv_cache_manager().pool().check_invariants().map_err(TestCaseError::fail)?;
    Ok(())
}

fn live_ids(s: &Scheduler) -> Vec<RequestId> {
    s.running().iter().chain(s.waiting()).map(|r| r.id).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn block_accounting_holds_and_everything_returns_to_the_pool(cfg in config(), ops in proptest::collection::vec(op(), 1..80), abort_all in any::<bool>()) {
        let mut s = Scheduler::new(cfg.clone()).unwrap();
        let mut next_id = 1u64;
        for op in ops {
            match op {
                Op::Add { prompt_len, max_tokens, group, priority, tenant } => {
                    let id = next_id;
                    next_id += 1;
                    let req = Request::new(RequestId(id), prompt(id, prompt_len, group), SamplingParams::greedy(max_tokens), id as f64)
                        .with_eos(vec![EOS])
                        .with_priority(priority)
                        .with_tenant(format!("t{tenant}"));
                    let tokens = (prompt_len + max_tokens as usize).min(cfg.max_model_len);
                    let fits = prompt_len.max(tokens - 1) <= cfg.num_blocks * cfg.block_size;
                    let fits_context = prompt_len + (max_tokens.min(1) as usize) <= cfg.max_model_len;
                    prop_assert_eq!(s.add_request(req).is_ok(), fits && fits_context);
                }
                Op::Step { eos_every } => step(&mut s, eos_every)?,
                Op::Abort { k } => {
                    let live = live_ids(&s);
                    if !live.is_empty() {
                        prop_assert!(s.abort(live[k % live.len()]));
                    }
                }
                Op::StopString { k } => {
                    let running: Vec<RequestId> = s.running().iter().map(|r| r.id).collect();
                    if !running.is_empty() {
                        prop_assert_eq!(s.finish_requests(&[running[k % running.len()]], FinishReason::Stop), 1);
                    }
                }
            }
        }
        if abort_all {
            for id in live_ids(&s) {
                prop_assert!(s.abort(id));
            }
        }
        // Every request finishes within a bounded number of steps (no livelock under preemption).
        let mut steps = 0;
        while s.has_unfinished_requests() {
            step(&mut s, 1_000_000)?;
            steps += 1;
            prop_assert!(steps < 10_000, "no progress: {} running, {} waiting", s.num_running(), s.num_waiting());
        }
        let out = s.schedule();
        prop_assert!(out.is_empty());
        prop_assert_eq!(s.kv_cache_manager().num_free_blocks(), cfg.num_blocks);
        prop_assert_eq!(s.kv_cache_usage(), 0.0);
        s.kv_cache_manager().pool().check_invariants().map_err(TestCaseError::fail)?;
    }
}

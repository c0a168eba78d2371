//! Criterion benches of the scheduler's per-step cost (no model): how much of a step's time is
//! scheduling. Cases: a decode step of 256 running requests (schedule + update with one sampled
//! token each), and admission from a queue of 10,000 waiting requests under FCFS and under the
//! O(queue) policies.
//!
//! `cargo bench -p llmserve-scheduler --bench scheduler_step`

use std::collections::HashSet;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use llmserve_scheduler::{ModelRunnerOutput, PolicyKind, Request, RequestId, SamplingParams, Scheduler, SchedulerConfig};

fn config(policy: PolicyKind) -> SchedulerConfig {
    SchedulerConfig {
        max_num_seqs: 256,
        max_num_batched_tokens: 8192,
        long_prefill_token_threshold: None,
        block_size: 16,
        num_blocks: 65_536,
        max_model_len: 4096,
        enable_prefix_caching: true,
        policy,
    }
}

fn add(s: &mut Scheduler, id: u64, prompt_len: usize) {
    let prompt: Vec<u32> = (0..prompt_len as u32).map(|i| id as u32 * 7919 + i).collect();
    let mut params = SamplingParams::greedy(1000);
    params.ignore_eos = true;
    s.add_request(Request::new(RequestId(id), prompt, params, id as f64)).expect("bench requests fit");
}

/// One full engine step without a model: schedule, sample token 1 for every finished chunk, update.
fn step(s: &mut Scheduler) -> usize {
    let out = s.schedule();
    let complete: HashSet<RequestId> =
        s.running().iter().filter(|r| r.num_computed_tokens == r.num_tokens()).map(|r| r.id).collect();
    let sampled = out
        .num_scheduled_tokens
        .iter()
        .filter(|(id, _)| complete.contains(id))
        .map(|&(id, _)| (id, vec![1u32]))
        .collect();
    s.update_from_output(&out, &ModelRunnerOutput { sampled_token_ids: sampled, ..Default::default() }).len()
}

/// 256 requests with 400-token prompts, prefilled (untimed), then in steady decode.
fn decoding_scheduler() -> Scheduler {
    let mut s = Scheduler::new(config(PolicyKind::Fcfs)).expect("valid config");
    for id in 0..256 {
        add(&mut s, id, 400);
    }
    while s.num_waiting() > 0 || s.running().iter().any(|r| r.num_output_tokens() == 0) {
        step(&mut s);
    }
    s
}

fn bench_decode_step(c: &mut Criterion) {
    // Requests generate at most 1000 tokens: time at most 500 steps per fresh (untimed) scheduler so
    // every timed step is a full 256-request decode step.
    c.bench_function("decode_step_256_running", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let mut s = decoding_scheduler();
                let n = left.min(500);
                let start = Instant::now();
                for _ in 0..n {
                    assert_eq!(step(&mut s), 256);
                }
                timed += start.elapsed();
                left -= n;
            }
            timed
        })
    });
}

fn bench_admission(c: &mut Criterion) {
    let mut group = c.benchmark_group("admit_from_10k_waiting");
    group.sample_size(10);
    for policy in [PolicyKind::Fcfs, PolicyKind::Priority, PolicyKind::FairShare, PolicyKind::ShortestPromptFirst] {
        group.bench_function(policy.name(), |b| {
            b.iter_batched(
                || {
                    let mut s = Scheduler::new(config(policy)).expect("valid config");
                    for id in 0..10_000 {
                        add(&mut s, id, 32 + (id as usize * 37) % 200);
                    }
                    s
                },
                |mut s| {
                    step(&mut s);
                    s
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode_step, bench_admission);
criterion_main!(benches);

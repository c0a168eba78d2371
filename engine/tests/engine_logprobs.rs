//! Logprobs and queue time through the whole engine, on a tiny synthetic model (no download).
//!
//! Every logprob is checked against an independent reference: a plain single-sequence forward over
//! the same tokens (`generate::score`, one chunk) whose logits go through an f64 log-softmax here.
//! The engine computes with f32 matmul activations (`MatmulPrecision::EXACT`), so batching and
//! chunking change the numbers by rounding only; the tolerance is 1e-4 (absolute, natural log).

mod engine_common;

use std::collections::BTreeMap;
use std::time::Instant;

use engine_common::{exact_engine, tiny_model, wait_idle};
use llmserve_engine::generate::score;
use llmserve_engine::{
    CpuBackend, CpuBackendConfig, CpuModelRunner, EngineError, EngineHandle, EngineOptions, EngineRequest, FinishReason, ModelRunner,
    RequestStream, StreamEvent, TokenLogprob,
};
use llmserve_models::llama::{KvCacheGeometry, MatmulPrecision};
use llmserve_models::model::LoadedModel;
use llmserve_scheduler::{ModelRunnerOutput, SamplingParams, SchedulerConfig, SchedulerOutput};

const VOCAB: u32 = 300;
const TOL: f64 = 1e-4;

/// A deterministic prompt of `len` tokens; different `salt`s give different prompts.
fn prompt(len: usize, salt: u32) -> Vec<u32> {
    (0..len as u32).map(|i| (i * 37 + salt * 101 + 11) % VOCAB).collect()
}

/// Raw logits `[ids.len(), vocab]` of every position of `ids`, from a plain one-chunk forward.
fn reference_logits(model: &LoadedModel, ids: &[u32]) -> Vec<f32> {
    let llama = model.build_llama(MatmulPrecision::EXACT).expect("model builds");
    let config = CpuBackendConfig { threads: 2, kv_cache_tokens: ids.len(), block_size: 4 };
    let mut backend = CpuBackend::new(llama, &config).expect("backend starts");
    score(&mut backend, ids, ids.len()).expect("reference forward")
}

fn row(logits: &[f32], position: usize) -> &[f32] {
    &logits[position * VOCAB as usize..(position + 1) * VOCAB as usize]
}

/// Plain f64 log-softmax.
fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().map(|&x| x as f64).fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    row.iter().map(|&x| x as f64 - max - sum.ln()).collect()
}

/// `entry` is `token`'s logprob under `logits` with the `k` most likely tokens, sorted.
fn check_entry(entry: &TokenLogprob, logits: &[f32], token: u32, k: usize, what: &str) {
    let want = log_softmax(logits);
    assert_eq!(entry.token_id, token, "{what}");
    let diff = (entry.logprob as f64 - want[token as usize]).abs();
    assert!(diff < TOL, "{what}: logprob {} vs reference {} (diff {diff:e})", entry.logprob, want[token as usize]);
    assert_eq!(entry.top.len(), k, "{what}: top list length");
    assert!(entry.top.windows(2).all(|w| w[0].1 >= w[1].1), "{what}: top list not sorted: {:?}", entry.top);
    let mut sorted = want.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    for &(id, lp) in &entry.top {
        assert!((lp as f64 - want[id as usize]).abs() < TOL, "{what}: top entry {id}: {lp} vs {}", want[id as usize]);
        assert!(want[id as usize] >= sorted[k - 1] - TOL, "{what}: token {id} is not among the {k} most likely");
    }
}

/// Prompt logprobs of `ids` equal the reference: entry 0 `None`, entry `i` scores `ids[i]` at `i - 1`.
fn check_prompt_logprobs(got: &[Option<TokenLogprob>], reference: &[f32], ids: &[u32], k: usize, what: &str) {
    assert_eq!(got.len(), ids.len(), "{what}: one entry per prompt token");
    assert!(got[0].is_none(), "{what}: the first prompt token has no logprob");
    for (i, entry) in got.iter().enumerate().skip(1) {
        let entry = entry.as_ref().unwrap_or_else(|| panic!("{what}: prompt position {i} missing"));
        check_entry(entry, row(reference, i - 1), ids[i], k, &format!("{what}, prompt token {i}"));
    }
}

/// Generated-token logprobs equal the reference forward over `prompt ++ tokens`.
fn check_generated(model: &LoadedModel, prompt: &[u32], tokens: &[u32], logprobs: &[TokenLogprob], k: usize, what: &str) {
    assert_eq!(logprobs.len(), tokens.len(), "{what}: one logprob per generated token");
    let full: Vec<u32> = prompt.iter().chain(tokens).copied().collect();
    let reference = reference_logits(model, &full);
    for (j, (entry, &token)) in logprobs.iter().zip(tokens).enumerate() {
        check_entry(entry, row(&reference, prompt.len() - 1 + j), token, k, &format!("{what}, output {j}"));
    }
}

fn all_events(mut stream: RequestStream) -> Vec<StreamEvent> {
    std::iter::from_fn(|| stream.recv_blocking()).collect()
}

fn params(max_tokens: u32, logprobs: Option<u32>, prompt_logprobs: Option<u32>) -> SamplingParams {
    SamplingParams { logprobs, prompt_logprobs, ..SamplingParams::greedy(max_tokens) }
}

#[test]
fn generated_token_logprobs_are_the_raw_log_softmax_of_a_reference_forward() {
    let model = tiny_model(1);
    let engine = exact_engine(&model, 1024, |_| {});
    let greedy_prompt = prompt(20, 1);
    let greedy = EngineRequest::new(greedy_prompt.clone(), params(8, Some(5), None));
    // Penalties, bias and temperature change the sampling, not the reported (raw) logprobs.
    let sampled_prompt = prompt(13, 2);
    let sampled_params = SamplingParams {
        temperature: 0.8,
        seed: Some(3),
        repetition_penalty: 1.5,
        logit_bias: BTreeMap::from([(7, 5.0)]),
        ..params(8, Some(0), None)
    };
    let sampled = EngineRequest::new(sampled_prompt.clone(), sampled_params);
    let plain = EngineRequest::new(prompt(17, 3), params(8, None, None));
    // Submitted together: the three share steps.
    let streams = [greedy, sampled, plain].map(|r| engine.submit(r).expect("submit"));
    let [greedy, sampled, plain] = streams.map(all_events);

    for event in &plain {
        if let StreamEvent::Tokens { logprobs, .. } = event {
            assert!(logprobs.is_none(), "no logprobs asked, none sent: {event:?}");
        }
        assert!(!matches!(event, StreamEvent::PromptLogprobs { .. }), "{event:?}");
    }
    for events in [&greedy, &sampled] {
        for event in events {
            if let StreamEvent::Tokens { token_ids, logprobs, .. } = event {
                assert_eq!(logprobs.as_ref().map(Vec::len), Some(token_ids.len()), "{event:?}");
            }
        }
    }

    let collect = |events: Vec<StreamEvent>| -> (Vec<u32>, Vec<TokenLogprob>) {
        let mut tokens = Vec::new();
        let mut logprobs = Vec::new();
        for event in events {
            if let StreamEvent::Tokens { token_ids, logprobs: Some(l), .. } = event {
                tokens.extend(token_ids);
                logprobs.extend(l);
            }
        }
        (tokens, logprobs)
    };
    let (tokens, logprobs) = collect(greedy);
    assert_eq!(tokens.len(), 8);
    check_generated(&model, &greedy_prompt, &tokens, &logprobs, 5, "greedy");
    for (entry, &token) in logprobs.iter().zip(&tokens) {
        assert_eq!(entry.top[0].0, token, "greedy picks the most likely token");
    }
    let (tokens, logprobs) = collect(sampled);
    check_generated(&model, &sampled_prompt, &tokens, &logprobs, 0, "sampled with penalties");
}

#[test]
fn prompt_logprobs_are_complete_and_equal_however_the_prompt_is_computed() {
    let model = tiny_model(2);
    let ids = prompt(41, 4);
    let reference = reference_logits(&model, &ids);
    let request = |n| EngineRequest::new(ids.clone(), params(2, Some(3), Some(3))).with_n(n);

    // One chunk (the whole prompt fits the step budget).
    let single = exact_engine(&model, 1024, |_| {});
    let samples = single.submit(request(1)).expect("submit").collect_blocking();
    let got = samples[0].prompt_logprobs.as_ref().expect("prompt logprobs sent");
    check_prompt_logprobs(got, &reference, &ids, 3, "single chunk");
    single.shutdown();

    // Chunks of 7 tokens: the prompt spans 6 steps. Two samples: each gets its own event, before
    // its first tokens.
    let chunked = exact_engine(&model, 1024, |s| s.long_prefill_token_threshold = Some(7));
    let events = all_events(chunked.submit(request(2)).expect("submit"));
    assert!(chunked.stats().num_steps >= 6, "{:?}", chunked.stats());
    for index in 0..2 {
        let mine: Vec<&StreamEvent> = events.iter().filter(|e| e.index() == index).collect();
        let prompt_events: Vec<_> = mine.iter().filter(|e| matches!(e, StreamEvent::PromptLogprobs { .. })).collect();
        assert_eq!(prompt_events.len(), 1, "sample {index}: exactly one PromptLogprobs event");
        assert!(matches!(mine[0], StreamEvent::PromptLogprobs { .. }), "sample {index}: first event {:?}", mine[0]);
        let StreamEvent::PromptLogprobs { logprobs, .. } = prompt_events[0] else { unreachable!() };
        check_prompt_logprobs(logprobs, &reference, &ids, 3, &format!("chunked, sample {index}"));
    }

    // Prefix cache warm: the same prompt without prompt_logprobs first (it caches its blocks), then
    // with: nothing is taken from the cache and every position is still scored.
    let warm = EngineRequest::new(ids.clone(), params(1, None, None));
    chunked.submit(warm.clone()).expect("submit").collect_blocking();
    let hit = chunked.submit(warm).expect("submit").collect_blocking();
    assert!(hit[0].usage.cached_prompt_tokens > 0, "the prompt's blocks are cached");
    let mut samples = chunked.submit(request(1)).expect("submit").collect_blocking();
    let sample = samples.remove(0);
    assert_eq!(sample.usage.cached_prompt_tokens, 0, "a prompt_logprobs request takes no cache hits");
    let got = sample.prompt_logprobs.as_ref().expect("prompt logprobs sent with a warm cache");
    check_prompt_logprobs(got, &reference, &ids, 3, "warm prefix cache");
    check_generated(&model, &ids, &sample.token_ids, &sample.logprobs, 3, "after prompt logprobs");
}

#[test]
fn max_tokens_zero_scores_the_prompt_and_finishes_without_tokens() {
    let model = tiny_model(3);
    let engine = exact_engine(&model, 1024, |s| s.long_prefill_token_threshold = Some(5));
    let ids = prompt(23, 5);
    let events = all_events(engine.submit(EngineRequest::new(ids.clone(), params(0, Some(2), Some(0)))).expect("submit"));
    assert_eq!(events.len(), 2, "{events:?}");
    let StreamEvent::PromptLogprobs { index: 0, logprobs } = &events[0] else { panic!("first event {:?}", events[0]) };
    check_prompt_logprobs(logprobs, &reference_logits(&model, &ids), &ids, 0, "max_tokens 0");
    let StreamEvent::Finished { reason, usage, .. } = &events[1] else { panic!("last event {:?}", events[1]) };
    assert_eq!(*reason, FinishReason::Length);
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (23, 0));

    // A one-token prompt has nothing to score: its single entry is None.
    let events = all_events(engine.submit(EngineRequest::new(vec![42], params(0, None, Some(1)))).expect("submit"));
    assert!(matches!(&events[..], [StreamEvent::PromptLogprobs { logprobs, .. }, StreamEvent::Finished { .. }] if logprobs == &vec![None]), "{events:?}");
}

#[test]
fn preempted_requests_get_each_prompt_position_once_and_correct_logprobs() {
    let model = tiny_model(4);
    // 96 cache tokens for four requests of up to 30 + 40 tokens: running requests run out of blocks
    // and are preempted (recomputed from scratch, prompt positions scored again).
    let engine = exact_engine(&model, 96, |s| s.long_prefill_token_threshold = Some(8));
    let prompts: Vec<Vec<u32>> = (0..4).map(|i| prompt(24 + 2 * i, 10 + i as u32)).collect();
    let streams: Vec<_> = prompts
        .iter()
        .map(|p| engine.submit(EngineRequest::new(p.clone(), params(40, Some(2), Some(2)))).expect("submit"))
        .collect();
    let results: Vec<Vec<StreamEvent>> = streams.into_iter().map(all_events).collect();
    let stats = wait_idle(&engine);
    assert!(stats.num_preemptions > 0, "the small cache should force preemptions: {stats:?}");
    for (i, (events, ids)) in results.iter().zip(&prompts).enumerate() {
        let what = format!("request {i}");
        let prompt_events: Vec<_> = events.iter().filter(|e| matches!(e, StreamEvent::PromptLogprobs { .. })).collect();
        assert_eq!(prompt_events.len(), 1, "{what}: exactly one PromptLogprobs event");
        assert!(matches!(events[0], StreamEvent::PromptLogprobs { .. }), "{what}: first event {:?}", events[0]);
        let StreamEvent::PromptLogprobs { logprobs, .. } = prompt_events[0] else { unreachable!() };
        check_prompt_logprobs(logprobs, &reference_logits(&model, ids), ids, 2, &what);
        let mut tokens = Vec::new();
        let mut generated = Vec::new();
        for event in events {
            match event {
                StreamEvent::Tokens { token_ids, logprobs, .. } => {
                    tokens.extend_from_slice(token_ids);
                    generated.extend(logprobs.clone().expect("logprobs asked"));
                }
                StreamEvent::Error { message, .. } => panic!("{what}: {message}"),
                _ => {}
            }
        }
        assert_eq!(tokens.len(), 40, "{what}");
        check_generated(&model, ids, &tokens, &generated, 2, &what);
    }
}

/// The CPU runner with the trait's default capability: a backend without logprobs.
struct WithoutLogprobs(CpuModelRunner);

impl ModelRunner for WithoutLogprobs {
    fn execute(&mut self, out: &SchedulerOutput) -> Result<ModelRunnerOutput, EngineError> {
        self.0.execute(out)
    }

    fn kv_cache_geometry(&self) -> KvCacheGeometry {
        self.0.kv_cache_geometry()
    }

    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }

    fn max_model_len(&self) -> usize {
        self.0.max_model_len()
    }

    fn num_cached_requests(&self) -> usize {
        self.0.num_cached_requests()
    }
}

#[test]
fn invalid_or_unsupported_logprobs_are_refused_and_queue_time_is_reported() {
    let model = tiny_model(5);
    let engine = exact_engine(&model, 1024, |_| {});
    assert!(engine.limits().supports_logprobs);
    for (field, p) in [("logprobs", params(4, Some(21), None)), ("prompt_logprobs", params(4, None, Some(21)))] {
        match engine.submit(EngineRequest::new(prompt(5, 1), p)) {
            Err(EngineError::Sampling(e)) => {
                assert_eq!(e.field, field);
                assert!(e.to_string().contains("20"), "{e}");
            }
            other => panic!("{field} = 21 must be refused, got {:?}", other.map(|s| s.id())),
        }
    }

    let start = Instant::now();
    let sample = engine.submit(EngineRequest::new(prompt(9, 2), params(6, Some(1), None))).expect("submit").collect_blocking().remove(0);
    let e2e = start.elapsed();
    let queue_time = sample.usage.queue_time.expect("queue time of a request that ran");
    assert!(queue_time <= e2e, "queue time {queue_time:?} > end-to-end {e2e:?}");

    let llama = model.build_llama(MatmulPrecision::EXACT).expect("model builds");
    let runner = CpuModelRunner::new(llama, &CpuBackendConfig { threads: 1, kv_cache_tokens: 256, block_size: 4 }).expect("runner");
    let options = EngineOptions { max_samples_per_request: 2, step_trace_capacity: 0, skip_special_tokens: true };
    let without = EngineHandle::spawn(SchedulerConfig::default(), Box::new(WithoutLogprobs(runner)), None, options).expect("spawn");
    assert!(!without.limits().supports_logprobs);
    for p in [params(4, Some(0), None), params(4, None, Some(0))] {
        let e = without.submit(EngineRequest::new(prompt(5, 1), p)).err().expect("refused");
        assert!(matches!(e, EngineError::LogprobsUnsupported), "{e}");
        assert_eq!(e.to_string(), "logprobs are not supported by this backend yet");
    }
    let plain = without.submit(EngineRequest::new(prompt(5, 1), params(3, None, None))).expect("submit").collect_blocking();
    assert_eq!(plain[0].token_ids.len(), 3);
    assert!(plain[0].logprobs.is_empty() && plain[0].prompt_logprobs.is_none());
}

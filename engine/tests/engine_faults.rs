//! Engine behaviour that needs no model: a fake runner (deterministic "next token = last + 1")
//! exercises the step loop, failure handling, aborts, shutdown and the async `Stream` interface.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use futures_core::Stream;
use llmserve_engine::input_batch::InputBatch;
use llmserve_engine::{EngineError, EngineHandle, EngineOptions, EngineRequest, FinishReason, ModelRunner, StreamEvent};
use llmserve_models::llama::KvCacheGeometry;
use llmserve_scheduler::{ModelRunnerOutput, SamplingParams, SchedulerConfig, SchedulerOutput};

/// A prompt starting with this token makes the runner return an error for the step.
const FAIL_TOKEN: u32 = 900;
/// A prompt starting with this token makes the runner panic.
const PANIC_TOKEN: u32 = 901;
const VOCAB: usize = 1000;

/// "Model": the next token is the last token + 1 (mod vocab). Slow enough (1 ms a step) that
/// requests overlap.
struct FakeRunner {
    batch: InputBatch,
    geometry: KvCacheGeometry,
}

impl FakeRunner {
    fn new(num_blocks: usize) -> FakeRunner {
        let geometry = KvCacheGeometry { num_layers: 1, num_blocks, block_size: 4, num_kv_heads: 1, head_dim: 2 };
        FakeRunner { batch: InputBatch::new(4), geometry }
    }
}

impl ModelRunner for FakeRunner {
    fn execute(&mut self, out: &SchedulerOutput) -> Result<ModelRunnerOutput, EngineError> {
        self.batch.update_states(out)?;
        if out.is_empty() {
            return Ok(ModelRunnerOutput::default());
        }
        self.batch.prepare_inputs(out)?;
        std::thread::sleep(Duration::from_millis(1));
        let mut sampled = Vec::new();
        for chunk in self.batch.chunks().to_vec() {
            let state = self.batch.get_mut(chunk.request_id).expect("scheduled request is held");
            match state.token_ids[0] {
                FAIL_TOKEN => return Err(EngineError::RunnerState("injected failure".into())),
                PANIC_TOKEN => panic!("injected panic"),
                _ => {}
            }
            if chunk.logits_row.is_none() {
                sampled.push((chunk.request_id, vec![]));
                continue;
            }
            let next = (state.token_ids.last().copied().unwrap_or(0) + 1) % VOCAB as u32;
            state.token_ids.push(next);
            sampled.push((chunk.request_id, vec![next]));
        }
        Ok(ModelRunnerOutput { sampled_token_ids: sampled, ..Default::default() })
    }

    fn kv_cache_geometry(&self) -> KvCacheGeometry {
        self.geometry
    }

    fn vocab_size(&self) -> usize {
        VOCAB
    }

    fn max_model_len(&self) -> usize {
        256
    }

    fn num_cached_requests(&self) -> usize {
        self.batch.len()
    }
}

fn fake_engine(num_blocks: usize) -> EngineHandle {
    let options = EngineOptions { max_samples_per_request: 4, step_trace_capacity: 8, skip_special_tokens: true };
    EngineHandle::spawn(SchedulerConfig::default(), Box::new(FakeRunner::new(num_blocks)), None, options).expect("engine starts")
}

fn greedy(prompt: Vec<u32>, max_tokens: u32) -> EngineRequest {
    EngineRequest::new(prompt, SamplingParams { ignore_eos: true, ..SamplingParams::greedy(max_tokens) })
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn tokens_stream_in_order_and_usage_is_reported() {
    let engine = fake_engine(64);
    let samples = engine.submit(greedy(vec![5, 6, 7], 4)).unwrap().collect_blocking();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].token_ids, vec![8, 9, 10, 11]);
    assert_eq!(samples[0].finish_reason, Some(FinishReason::Length));
    assert_eq!(samples[0].usage.prompt_tokens, 3);
    assert_eq!(samples[0].usage.completion_tokens, 4);
    assert!(samples[0].text.is_empty(), "no tokenizer, no text");
    let traces = engine.take_step_traces();
    assert!(!traces.is_empty() && traces.len() <= 8);
    assert_eq!(traces[0].num_prefill_tokens, 3);
    assert!(traces.iter().skip(1).all(|t| t.num_decode_seqs == 1 && t.num_scheduled_tokens == 1));
}

#[test]
fn a_failing_step_fails_its_requests_and_the_engine_keeps_serving() {
    let engine = fake_engine(64);
    for poison in [FAIL_TOKEN, PANIC_TOKEN] {
        // A long healthy request, then the poisoned one joins its batch.
        let mut healthy = engine.submit(greedy(vec![1, 2], 50)).unwrap();
        let first = healthy.recv_blocking().unwrap();
        assert!(matches!(first, StreamEvent::Tokens { .. }), "{first:?}");
        let bad = engine.submit(greedy(vec![poison, 3], 5)).unwrap().collect_blocking();
        assert_eq!(bad[0].finish_reason, Some(FinishReason::Error), "{poison}");
        let message = bad[0].error.as_deref().unwrap_or_default();
        assert!(message.contains("injected"), "{message}");
        // The healthy request was in the failed step too; it is failed as well, or finished if it
        // was not scheduled with the poisoned one. Either way the engine is alive and serves more.
        let rest: Vec<StreamEvent> = std::iter::from_fn(|| healthy.recv_blocking()).collect();
        assert!(matches!(rest.last(), Some(StreamEvent::Finished { .. })), "{rest:?}");
        assert!(engine.is_alive());
        let after = engine.submit(greedy(vec![10], 3)).unwrap().collect_blocking();
        assert_eq!(after[0].token_ids, vec![11, 12, 13]);
    }
    let stats = engine.stats();
    assert!(stats.num_step_errors >= 2, "{stats:?}");
    wait_until("blocks freed", || engine.stats().num_free_blocks == engine.stats().num_blocks);
}

#[test]
fn abort_and_drop_free_blocks_and_shutdown_aborts_in_flight_requests() {
    let engine = fake_engine(64);
    // Abort by id.
    let mut stream = engine.submit(greedy(vec![1; 9], 200)).unwrap();
    assert!(matches!(stream.recv_blocking(), Some(StreamEvent::Tokens { .. })));
    engine.abort(stream.id()).unwrap();
    let last = std::iter::from_fn(|| stream.recv_blocking()).last();
    assert!(matches!(last, Some(StreamEvent::Finished { reason: FinishReason::Abort, .. })), "{last:?}");
    // Drop mid-generation.
    let mut dropped = engine.submit(greedy(vec![2; 9], 200)).unwrap();
    assert!(matches!(dropped.recv_blocking(), Some(StreamEvent::Tokens { .. })));
    drop(dropped);
    wait_until("dropped request freed", || {
        let s = engine.stats();
        s.num_running == 0 && s.num_free_blocks == s.num_blocks
    });
    // Shutdown with a request in flight.
    let mut in_flight = engine.submit(greedy(vec![3; 5], 200)).unwrap();
    assert!(matches!(in_flight.recv_blocking(), Some(StreamEvent::Tokens { .. })));
    engine.shutdown();
    assert!(!engine.is_alive());
    let last = std::iter::from_fn(|| in_flight.recv_blocking()).last();
    assert!(matches!(last, Some(StreamEvent::Finished { reason: FinishReason::Abort, .. })), "{last:?}");
    assert!(matches!(engine.submit(greedy(vec![1], 1)), Err(EngineError::EngineStopped)));
}

#[test]
fn submit_validates_before_queuing() {
    let engine = fake_engine(8); // 32 tokens of cache, context 256, vocab 1000
    let err = |r: EngineRequest| engine.submit(r).err().expect("refused").to_string();
    assert!(err(greedy(vec![], 4)).contains("empty prompt"));
    assert!(err(greedy(vec![1; 250], 10)).contains("context length 256"));
    assert!(err(greedy(vec![1; 30], 10)).contains("KV cache too small"));
    assert!(err(greedy(vec![1, 5000], 4)).contains("vocab size 1000"));
    assert!(err(greedy(vec![1], 4).with_n(0)).contains("between 1 and 4"));
    let bad = EngineRequest::new(vec![1], SamplingParams { top_p: 1.5, ..Default::default() });
    assert!(err(bad).contains("top_p"));
    let stops = EngineRequest::new(vec![1], SamplingParams { stop: vec!["x".into()], ..SamplingParams::greedy(2) });
    assert!(matches!(engine.submit(stops), Err(EngineError::StopStringsNeedTokenizer)));
    // Nothing was queued.
    assert_eq!(engine.stats().num_waiting + engine.stats().num_running, 0);
    let ok = engine.submit(greedy(vec![1], 3)).unwrap().collect_blocking();
    assert_eq!(ok[0].token_ids, vec![2, 3, 4]);
}

#[test]
fn n_samples_each_get_their_own_events() {
    let engine = fake_engine(64);
    let samples = engine.submit(greedy((0..12).collect(), 3).with_n(3)).unwrap().collect_blocking();
    assert_eq!(samples.len(), 3);
    for s in &samples {
        assert_eq!(s.token_ids, vec![12, 13, 14]);
        assert_eq!(s.finish_reason, Some(FinishReason::Length));
    }
    // 12 tokens = 3 full blocks of 4; the prefix cache never covers the last prompt token, so the
    // 2nd and 3rd samples reuse 2 blocks (8 tokens) each.
    let cached: usize = samples.iter().map(|s| s.usage.cached_prompt_tokens).sum();
    assert_eq!(cached, 16, "{samples:?}");
}

/// Minimal executor: polls on this thread, parks until woken.
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

#[test]
fn the_stream_interface_yields_the_same_events() {
    let engine = fake_engine(64);
    let mut stream = engine.submit(greedy(vec![40, 41], 5)).unwrap();
    let events = block_on(async {
        let mut events = Vec::new();
        while let Some(e) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
            events.push(e);
        }
        events
    });
    let tokens: Vec<u32> = events
        .iter()
        .flat_map(|e| match e {
            StreamEvent::Tokens { token_ids, .. } => token_ids.clone(),
            _ => vec![],
        })
        .collect();
    assert_eq!(tokens, vec![42, 43, 44, 45, 46]);
    assert!(matches!(events.last(), Some(StreamEvent::Finished { reason: FinishReason::Length, .. })));
}

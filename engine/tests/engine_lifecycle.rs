//! Request lifecycle through the engine on the default model: dropping a stream frees its blocks,
//! abort, n = 2 sharing prompt blocks, stop strings kept out of the text, seeded sampling that
//! survives preemption, and invalid input refused without disturbing running requests.

mod engine_common;

use engine_common::{engine, load_model, wait_idle, TEXTS};
use llmserve_engine::{EngineError, EngineRequest, FinishReason, StreamEvent};
use llmserve_models::llama::MatmulPrecision;
use llmserve_models::model::LoadedModel;
use llmserve_scheduler::SamplingParams;

fn encode(model: &LoadedModel, text: &str) -> Vec<u32> {
    model.tokenizer.as_ref().expect("tokenizer").encode(text, false).expect("encodes")
}

fn long_params(max_tokens: u32) -> SamplingParams {
    SamplingParams { ignore_eos: true, ..SamplingParams::greedy(max_tokens) }
}

#[test]
fn dropping_or_aborting_a_stream_frees_its_blocks() {
    let Some(model) = load_model() else { return };
    let engine = engine(&model, MatmulPrecision::BALANCED, 2048, |_| {});
    let mut survivor = engine.submit(EngineRequest::new(encode(&model, TEXTS[0]), long_params(24))).unwrap();
    let mut dropped = engine.submit(EngineRequest::new(encode(&model, TEXTS[4]), long_params(200))).unwrap();
    let mut aborted = engine.submit(EngineRequest::new(encode(&model, TEXTS[6]), long_params(200))).unwrap();
    // Both long requests are generating when they go away.
    for s in [&mut dropped, &mut aborted] {
        for _ in 0..2 {
            assert!(matches!(s.recv_blocking(), Some(StreamEvent::Tokens { .. })));
        }
    }
    assert!(engine.stats().num_running >= 2);
    drop(dropped);
    engine.abort(aborted.id()).unwrap();
    let events: Vec<StreamEvent> = std::iter::from_fn(|| aborted.recv_blocking()).collect();
    match events.last() {
        Some(StreamEvent::Finished { reason: FinishReason::Abort, usage, .. }) => {
            assert!(usage.completion_tokens >= 2 && usage.completion_tokens < 200, "{usage:?}")
        }
        other => panic!("expected an abort finish, got {other:?}"),
    }
    // A stream dropped before its first token is fine too.
    drop(engine.submit(EngineRequest::new(encode(&model, TEXTS[7]), long_params(200))).unwrap());
    // The survivor is unaffected.
    let mut tokens = 0;
    let mut reason = None;
    while let Some(e) = survivor.recv_blocking() {
        match e {
            StreamEvent::Tokens { token_ids, .. } => tokens += token_ids.len(),
            StreamEvent::Finished { reason: r, .. } => reason = Some(r),
            StreamEvent::Error { message, .. } => panic!("{message}"),
            StreamEvent::PromptLogprobs { .. } => panic!("no prompt logprobs were asked"),
        }
    }
    assert_eq!((tokens, reason), (24, Some(FinishReason::Length)));
    let stats = wait_idle(&engine);
    assert_eq!(stats.kv_cache_usage, 0.0, "{stats:?}");
}

#[test]
fn two_samples_share_prompt_blocks_and_use_seed_plus_index() {
    let Some(model) = load_model() else { return };
    // f32 activations: sample 1 of the pair is compared with a request run alone (different batch
    // shapes; see engine_batching.rs).
    let engine = engine(&model, MatmulPrecision::EXACT, 1024, |_| {});
    let prompt = encode(&model, TEXTS[3]);
    assert!(prompt.len() > 40, "the prompt needs at least 2 full blocks");
    let sampled = |seed| SamplingParams { temperature: 0.9, seed: Some(seed), ignore_eos: true, ..SamplingParams::greedy(8) };
    let pair = engine.submit(EngineRequest::new(prompt.clone(), sampled(7)).with_n(2)).unwrap().collect_blocking();
    assert_eq!(pair.len(), 2);
    for s in &pair {
        assert_eq!(s.finish_reason, Some(FinishReason::Length));
        assert_eq!(s.token_ids.len(), 8);
        assert_eq!(s.usage.prompt_tokens, prompt.len());
    }
    // Both samples are admitted in one step; the second reuses the first's full prompt blocks.
    let full_blocks = (prompt.len() - 1) / 16 * 16;
    assert_eq!(pair[0].usage.cached_prompt_tokens + pair[1].usage.cached_prompt_tokens, full_blocks, "{pair:?}");
    assert!(engine.stats().prefix_cache_hit_tokens >= full_blocks as u64);
    // Sample 1 used seed 8: the same as a single request with seed 8 (own salt: computed afresh).
    let single = engine.submit(EngineRequest::new(prompt, sampled(8)).with_cache_salt("other")).unwrap().collect_blocking();
    assert_eq!(single[0].token_ids, pair[1].token_ids);
    assert_ne!(pair[0].token_ids, pair[1].token_ids, "different seeds should give different samples here");
    wait_idle(&engine);
}

#[test]
fn stop_strings_end_the_request_and_stay_out_of_the_text() {
    let Some(model) = load_model() else { return };
    let engine = engine(&model, MatmulPrecision::BALANCED, 2048, |_| {});
    let prompt = encode(&model, TEXTS[6]);
    let free = engine.submit(EngineRequest::new(prompt.clone(), long_params(40))).unwrap().collect_blocking().remove(0);
    assert!(free.text.len() > 20, "{:?}", free.text);
    // A stop string from the middle of the free-running text, spanning a word boundary.
    let words: Vec<&str> = free.text.split(' ').filter(|w| !w.is_empty()).collect();
    let stop = format!("{} {}", words[2], &words[3][..1]);
    let cut = free.text.find(&stop).expect("stop occurs");
    let mut params = long_params(40);
    params.stop = vec!["never appears §§".into(), stop.clone()];
    // Another salt: no prefix-cache reuse, so the same computation as the free run.
    let stopped = engine.submit(EngineRequest::new(prompt, params).with_cache_salt("b")).unwrap().collect_blocking().remove(0);
    assert_eq!(stopped.finish_reason, Some(FinishReason::Stop));
    assert_eq!(stopped.text, free.text[..cut], "stop {stop:?}");
    assert!(!stopped.text.contains(&stop));
    assert!(stopped.token_ids.len() < free.token_ids.len());
    assert_eq!(stopped.token_ids, free.token_ids[..stopped.token_ids.len()]);
    wait_idle(&engine);
}

#[test]
fn seeded_sampling_is_reproducible_across_preemption() {
    let Some(model) = load_model() else { return };
    let requests: Vec<EngineRequest> = (0..6)
        .map(|i| {
            let ids = encode(&model, TEXTS[i + 8]);
            let params = SamplingParams {
                temperature: 0.8,
                top_p: 0.95,
                repetition_penalty: 1.1,
                seed: Some(100 + i as u64),
                ignore_eos: true,
                ..SamplingParams::greedy(20)
            };
            EngineRequest::new(ids[..24 + 3 * i].to_vec(), params)
        })
        .collect();
    // f32 activations: batch shapes differ between the runs (see engine_batching.rs).
    let big = engine(&model, MatmulPrecision::EXACT, 2048, |_| {});
    let alone = engine_common::run_alone(&big, &requests);
    big.shutdown();
    // 6 blocks of 16 = 96 tokens: each request (≤ 59 tokens) fits, two at a time barely.
    let small = engine(&model, MatmulPrecision::EXACT, 96, |_| {});
    let together = engine_common::run_together(&small, &requests);
    let stats = wait_idle(&small);
    assert!(stats.num_preemptions > 0, "{stats:?}");
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(a.token_ids, b.token_ids, "request {i}");
    }
}

#[test]
fn invalid_requests_get_clear_errors_and_running_ones_are_undisturbed() {
    let Some(model) = load_model() else { return };
    // 24 blocks of 16 tokens; context limited to 512.
    let engine = engine(&model, MatmulPrecision::BALANCED, 384, |c| c.scheduler.max_model_len = 512);
    let prompt = encode(&model, TEXTS[1]);
    let reference = engine.submit(EngineRequest::new(prompt.clone(), long_params(16))).unwrap().collect_blocking().remove(0);
    // The same request again (own salt: computed afresh, so the same numerics), running while
    // invalid requests are refused.
    let mut running = engine.submit(EngineRequest::new(prompt, long_params(16)).with_cache_salt("x")).unwrap();
    let mut tokens = match running.recv_blocking() {
        Some(StreamEvent::Tokens { token_ids, .. }) => token_ids,
        other => panic!("{other:?}"),
    };

    let err = |r: EngineRequest| engine.submit(r).err().expect("refused");
    assert!(matches!(err(EngineRequest::new(vec![], long_params(4))), EngineError::EmptyPrompt));
    let e = err(EngineRequest::new(vec![1; 500], long_params(20)));
    assert!(matches!(e, EngineError::ContextLength { prompt_tokens: 500, max_tokens: 20, limit: 512 }), "{e}");
    assert!(e.to_string().contains("context length 512"), "{e}");
    let e = err(EngineRequest::new(vec![1; 300], long_params(200)));
    assert!(e.to_string().contains("KV cache too small") && e.to_string().contains("the cache has 24"), "{e}");
    let e = err(EngineRequest::new(vec![1], SamplingParams { temperature: -1.0, ..Default::default() }));
    assert!(e.to_string().contains("temperature"), "{e}");
    let e = err(EngineRequest::new(vec![1, 49_152], long_params(4)));
    assert!(matches!(e, EngineError::TokenOutOfRange { id: 49_152, position: 1, .. }), "{e}");
    let e = err(EngineRequest::new(vec![1], long_params(4)).with_n(17));
    assert!(e.to_string().contains("between 1 and 16"), "{e}");

    // `collect_blocking` gathers what is left after the first event.
    let rest = running.collect_blocking().remove(0);
    tokens.extend_from_slice(&rest.token_ids);
    assert_eq!(tokens, reference.token_ids);
    assert_eq!(rest.finish_reason, Some(FinishReason::Length));
    assert!(engine.stats().num_step_errors == 0);
    wait_idle(&engine);
}

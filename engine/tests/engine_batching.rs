//! Continuous batching gives the same greedy tokens as running each request alone, with a cache
//! large enough for everything and with one so small that requests are preempted and recomputed.
//!
//! Precision: these equality tests run the model with f32 matmul activations
//! (`MatmulPrecision::EXACT`). With 8-bit activations the CPU matmul for one token (m = 1, row dots)
//! and for several (m > 1, register tiles) sum the per-block products in different orders; a 1e-7
//! difference can flip an activation's int8 rounding in the next layer and re-draw the quantization
//! noise, which occasionally changes a greedy token (llama.cpp behaves the same way). A request's
//! batch size differs between "alone" and "together", so only the f32 path can be compared exactly.

mod engine_common;

use std::time::Instant;

use engine_common::{engine, load_model, mixed_requests, run_alone, run_together, wait_idle};
use llmserve_engine::{EngineRequest, FinishReason};
use llmserve_models::llama::MatmulPrecision;

const PRECISION: MatmulPrecision = MatmulPrecision::EXACT;
const NUM_REQUESTS: usize = 64;

#[test]
fn concurrent_requests_match_each_request_alone_with_and_without_preemption() {
    let Some(model) = load_model() else { return };
    let requests = mixed_requests(&model, NUM_REQUESTS);
    let prompt_tokens: usize = requests.iter().map(|r| r.prompt_token_ids.len()).sum();
    let max_total: usize = requests.iter().map(|r| r.prompt_token_ids.len() + r.sampling_params.max_tokens as usize).sum();

    // Alone: one request at a time through an engine with room for everything. Requests built
    // from the same text share prefix blocks (as real traffic does); each pass has its own cache
    // salt, so the concurrent pass computes its prompts itself instead of reusing this pass's KV.
    let big = engine(&model, PRECISION, 2 * max_total, |_| {});
    let salted = |salt: &str| -> Vec<EngineRequest> { requests.iter().map(|r| r.clone().with_cache_salt(salt)).collect() };
    let t = Instant::now();
    let alone = run_alone(&big, &salted("alone"));
    eprintln!("alone: {prompt_tokens} prompt tokens in {:.1} s, {:?}", t.elapsed().as_secs_f64(), big.stats());
    wait_idle(&big);

    // Together, cache large enough: everything runs concurrently.
    let t = Instant::now();
    let together = run_together(&big, &salted("together"));
    eprintln!("together: {:.1} s, {:?}", t.elapsed().as_secs_f64(), big.stats());
    compare(&alone, &together, "together");
    let stats = wait_idle(&big);
    assert_eq!(stats.num_preemptions, 0, "no preemption expected with a cache for everything");
    big.shutdown();

    // Together, with a KV cache for a fifth of the total: requests get preempted, recompute
    // their context (prompt + outputs so far) and must still produce the same tokens.
    let small = engine(&model, PRECISION, max_total / 5, |_| {});
    let t = Instant::now();
    let squeezed = run_together(&small, &requests);
    let stats = wait_idle(&small);
    eprintln!("squeezed: {:.1} s, {stats:?}", t.elapsed().as_secs_f64());
    compare(&alone, &squeezed, "squeezed");
    assert!(stats.num_preemptions > 0, "a fifth-size cache should force preemptions: {stats:?}");
}

fn compare(alone: &[llmserve_engine::CompletedSample], batched: &[llmserve_engine::CompletedSample], what: &str) {
    let mut stopped_by_string = 0;
    for (i, (a, b)) in alone.iter().zip(batched).enumerate() {
        assert!(a.error.is_none() && b.error.is_none(), "request {i}: {:?} / {:?}", a.error, b.error);
        assert_eq!(a.token_ids, b.token_ids, "{what}: request {i} tokens differ");
        assert_eq!(a.text, b.text, "{what}: request {i} text differs");
        assert_eq!(a.finish_reason, b.finish_reason, "{what}: request {i}");
        assert_eq!(a.usage.completion_tokens, b.usage.completion_tokens, "{what}: request {i}");
        assert!(!a.token_ids.is_empty());
        if a.finish_reason == Some(FinishReason::Stop) {
            stopped_by_string += 1;
        }
    }
    eprintln!("{what}: all {} requests equal; {stopped_by_string} ended with stop", alone.len());
}

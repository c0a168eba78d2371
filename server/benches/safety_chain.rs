//! Criterion benches of the safety chain's cost, against the budgets: the full input chain
//! on a 4k-token conversation (< 1 ms p99) and one streamed chunk through the output filters
//! (< 50 µs). The profile is the heaviest local one: input limits, injection (block), sensitive
//! words on input and output, PII redaction (every kind); the external moderation hook is a network
//! call and is not part of this budget. Besides criterion's estimates, each bench prints p50 / p99 /
//! max over its own timed iterations, because the budgets are tail latencies.
//!
//! `cargo bench -p llmserve-server --bench safety_chain`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use llmserve_server::metrics::Metrics;
use llmserve_server::safety::chain::{check_input, OutputPipeline, SafetyRecorder};
use llmserve_server::safety::filter::InputText;
use llmserve_server::safety::profile::{compile, SafetyProfile};

fn profile() -> SafetyProfile {
    let words = concat!(env!("CARGO_MANIFEST_DIR"), "/safety/words");
    let table: toml::Table = format!(
        "injection = {{ action = \"block\" }}\npii = {{ action = \"redact\" }}\n\
         sensitive_words = {{ action = \"redact\", files = [\"{words}/example-en.txt\", \"{words}/example-zh.txt\"], input = true, output = true }}"
    )
    .parse()
    .expect("valid TOML");
    compile("bench", &table, Path::new(".")).expect("bench profile compiles")
}

fn recorder() -> SafetyRecorder {
    SafetyRecorder { metrics: Arc::new(Metrics::new("bench", "0")), tenant: Arc::from("bench"), request_id: "bench".into(), log_content: false }
}

/// A benign multi-turn conversation of about 4,000 tokens (≈ 16,000 characters of English prose
/// and code, a little Chinese), the size the budget is stated for.
fn conversation() -> Vec<InputText> {
    let paragraph = "The scheduler admits waiting requests while the token budget lasts; each running sequence asks for \
                     its next chunk of prefill or a single decode token. When the block pool runs dry the policy picks a \
                     victim, frees its blocks and puts it back at the front of the queue. fn step(&mut self) -> Output { \
                     self.schedule(); self.execute(); } 调度器在每一步分配 KV 缓存块。 ";
    let mut messages = vec![InputText {
        param: "messages[0].content".into(),
        role: Some("system".into()),
        text: "You are a helpful assistant that explains systems code.".into(),
    }];
    let mut i = 1;
    while messages.iter().map(|m| m.text.len()).sum::<usize>() < 16_000 {
        let role = if i % 2 == 1 { "user" } else { "assistant" };
        messages.push(InputText { param: format!("messages[{i}].content"), role: Some(role.into()), text: paragraph.repeat(3) });
        i += 1;
    }
    messages
}

/// p50 / p99 / max of `iterations` timed calls of `f`.
fn tail(name: &str, iterations: usize, mut f: impl FnMut()) {
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!("{name}: p50 {:?}  p99 {:?}  max {:?}  ({iterations} iterations)", at(0.5), at(0.99), samples[samples.len() - 1]);
}

fn bench_input(c: &mut Criterion) {
    let profile = profile();
    let recorder = recorder();
    let input = conversation();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let run = || {
        let verdict = runtime.block_on(check_input(&profile, &input, &recorder));
        assert!(verdict.is_ok(), "the benign conversation passes");
    };
    tail("input_chain_4k_tokens", 2000, run);
    c.bench_function("input_chain_4k_tokens", |b| b.iter(run));
}

fn bench_output(c: &mut Criterion) {
    let profile = profile();
    let recorder = recorder();
    // Generated text in 4-character chunks (about one token each), with PII now and then.
    let text = "Sure! The block pool hands out fixed-size blocks; write to ops@example.com or call +1 415 555 0132 \
                if the cache runs out. Server 10.0.0.12 logs each preemption. "
        .repeat(20);
    let chunks: Vec<String> = text.chars().collect::<Vec<_>>().chunks(4).map(|c| c.iter().collect()).collect();
    let mut pipeline = OutputPipeline::new(&profile, recorder.clone()).expect("the profile filters output");
    let mut next = 0usize;
    let mut push = || {
        if next == chunks.len() {
            pipeline = OutputPipeline::new(&profile, recorder.clone()).expect("the profile filters output");
            next = 0;
        }
        let step = pipeline.push(&chunks[next]);
        next += 1;
        std::hint::black_box(step);
    };
    tail("output_chunk", 20_000, &mut push);
    c.bench_function("output_chunk", |b| b.iter(&mut push));
}

criterion_group!(benches, bench_input, bench_output);
criterion_main!(benches);

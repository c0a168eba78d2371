//! Shared helpers of the engine tests: the default model, an engine over it, a varied set of
//! prompts built with the model's tokenizer, and a tiny synthetic model (no download) for tests that
//! compare numbers against a reference forward.

#![allow(dead_code)]

use llmserve_engine::{CompletedSample, CpuBackendConfig, EngineConfig, EngineHandle, EngineRequest};
use llmserve_models::default_model;
use llmserve_models::llama::MatmulPrecision;
use llmserve_models::config::LlamaConfig;
use llmserve_models::model::{LoadedModel, ModelSource};
use llmserve_models::DType;
use llmserve_scheduler::{SamplingParams, SchedulerConfig};

/// The default model, or `None` (test skipped with a printed reason) when it is not pulled.
pub fn load_model() -> Option<LoadedModel> {
    let path = default_model::for_tests()?;
    Some(LoadedModel::from_gguf(&path).expect("default model loads"))
}

/// An engine on the default model with `kv_cache_tokens` of KV cache, 2 threads, blocks of 16.
pub fn engine(model: &LoadedModel, precision: MatmulPrecision, kv_cache_tokens: usize, tweak: impl FnOnce(&mut EngineConfig)) -> EngineHandle {
    let defaults = EngineConfig::default();
    let mut config = EngineConfig {
        precision,
        cpu: CpuBackendConfig { threads: 2, kv_cache_tokens, ..defaults.cpu },
        scheduler: SchedulerConfig { block_size: 16, ..defaults.scheduler },
        ..defaults
    };
    tweak(&mut config);
    EngineHandle::cpu(model, config).expect("engine starts")
}

/// A 2-layer LLaMA with random F32 weights: 300-token vocabulary, 256 positions, no tokenizer
/// (so no EOS: requests run to `max_tokens`).
pub fn tiny_model(seed: u64) -> LoadedModel {
    let config: LlamaConfig = serde_json::from_value(serde_json::json!({
        "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
        "max_position_embeddings": 256, "rope_theta": 10000.0
    }))
    .expect("tiny config parses");
    let source = ModelSource::Synthetic { config: Box::new(config), seed, dtype: DType::F32, tokenizer_dir: None };
    LoadedModel::load(&source).expect("synthetic model loads")
}

/// An engine on `model` with f32 matmul activations, blocks of 4, `kv_cache_tokens` of cache and 2
/// threads; `tweak` adjusts the scheduler (token budget, chunking, prefix caching).
pub fn exact_engine(model: &LoadedModel, kv_cache_tokens: usize, tweak: impl FnOnce(&mut SchedulerConfig)) -> EngineHandle {
    let defaults = EngineConfig::default();
    let mut scheduler = SchedulerConfig { block_size: 4, ..defaults.scheduler };
    tweak(&mut scheduler);
    let config = EngineConfig {
        precision: MatmulPrecision::EXACT,
        cpu: CpuBackendConfig { threads: 2, kv_cache_tokens, ..defaults.cpu },
        scheduler,
        ..defaults
    };
    EngineHandle::cpu(model, config).expect("engine starts")
}

/// Texts of different kinds (prose, code, lists, dialogue, numbers, other languages).
pub const TEXTS: &[&str] = &[
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg combined movable metal type, oil-based inks and a wooden press adapted from wine making. Within fifty years printing shops had spread to more than two hundred cities across Europe, and the price of books fell so quickly that reading became a habit of merchants and artisans rather than a privilege of monks.",
    "fn fibonacci(n: u64) -> u64 {\n    let (mut a, mut b) = (0, 1);\n    for _ in 0..n {\n        let next = a + b;\n        a = b;\n        b = next;\n    }\n    a\n}\n\nfn main() {\n    for i in 0..10 {\n        println!(\"{}\", fibonacci(i));\n    }\n}\n",
    "Shopping list for the weekend:\n1. Two loaves of bread\n2. A dozen eggs\n3. Fresh basil and tomatoes\n4. Olive oil\n5. Coffee beans, dark roast\n6. Something for dessert, maybe strawberries",
    "Alice: Did you finish the report for the meeting tomorrow?\nBob: Almost. I still need the sales figures from March.\nAlice: I can send them to you tonight.\nBob: That would be great, thank you!\nAlice:",
    "Photosynthesis is the process by which green plants, algae and some bacteria convert light energy into chemical energy. Carbon dioxide and water are combined to form glucose, and oxygen is released as a by-product. The reactions take place in the chloroplasts.",
    "Question: What is the capital of France?\nAnswer: Paris.\nQuestion: What is the largest planet in the solar system?\nAnswer: Jupiter.\nQuestion: Who wrote Romeo and Juliet?\nAnswer:",
    "Once upon a time, in a small village at the edge of a great forest, there lived an old clockmaker who could repair anything that ticked. One winter evening a stranger knocked on his door, holding a clock that had no hands at all.",
    "The quarterly results show revenue of 4.2 million dollars, an increase of 12 percent over the same period last year. Operating costs rose by 3 percent, mainly because of new hires in the engineering team, while marketing spending stayed flat.",
    "La ville de Lyon est située au confluent du Rhône et de la Saône. Elle est connue pour sa gastronomie, ses traboules et la fête des lumières qui a lieu chaque année au mois de décembre.",
    "To install the package, run the following commands in a terminal:\n\n    pip install --upgrade pip\n    pip install requests\n\nThen open a Python shell and type import requests to check that it worked.",
    "Dear customer, thank you for your order. Your parcel has been shipped and should arrive within three to five working days. If you have any questions, please reply to this email.",
    "Mountains cover about a quarter of the land surface of the Earth. They influence the weather, store fresh water as snow and ice, and are home to many plants and animals found nowhere else.",
    "SELECT name, COUNT(*) AS orders\nFROM customers\nJOIN orders ON orders.customer_id = customers.id\nWHERE orders.created_at > '2024-01-01'\nGROUP BY name\nORDER BY orders DESC\nLIMIT 10;",
    "The recipe is simple: mix two cups of flour with a teaspoon of salt, add warm water slowly until the dough is soft, knead it for ten minutes, and let it rest for an hour before baking.",
    "In 1969 the Apollo 11 mission landed the first humans on the Moon. Neil Armstrong and Buzz Aldrin spent about two and a half hours outside the lunar module, collecting samples and setting up experiments.",
    "Roses are red, violets are blue, sugar is sweet, and so are you. The garden in spring is full of colour: tulips, daffodils and the first green leaves on the old apple tree.",
];

/// `count` (≥ 2) greedy requests with prompt lengths spread over 5..=150 tokens, `max_tokens` over 4..=24,
/// every fourth with stop strings. Deterministic.
pub fn mixed_requests(model: &LoadedModel, count: usize) -> Vec<EngineRequest> {
    let tokenizer = model.tokenizer.as_ref().expect("default model has a tokenizer");
    let stops: [&[&str]; 3] = [&["\n"], &[".", "!"], &[" the", ","]];
    (0..count)
        .map(|i| {
            // Texts repeated to reach long prompts; each request starts in a different text.
            let mut text = String::new();
            let mut k = i;
            while text.len() < 1200 {
                text.push_str(TEXTS[k % TEXTS.len()]);
                text.push('\n');
                k += 5;
            }
            let ids = tokenizer.encode(&text, false).expect("encodes");
            // Lengths 5..=150, skewed short (quadratic; mean ≈ 54) like chat traffic, in an order
            // unrelated to the text (37 is coprime to the count of 64).
            let j = (i * 37) % count;
            let len = 5 + 145 * j * j / (count - 1).pow(2).max(1);
            let mut params = SamplingParams::greedy(4 + (i as u32 * 7) % 21);
            if i % 4 == 3 {
                params.stop = stops[(i / 4) % stops.len()].iter().map(|s| s.to_string()).collect();
            }
            EngineRequest::new(ids[..len.min(ids.len())].to_vec(), params)
        })
        .collect()
}

/// Runs each request alone (submit, wait for the end, next) on `engine`.
pub fn run_alone(engine: &EngineHandle, requests: &[EngineRequest]) -> Vec<CompletedSample> {
    requests
        .iter()
        .map(|r| {
            let mut samples = engine.submit(r.clone()).expect("submit").collect_blocking();
            assert_eq!(samples.len(), 1);
            samples.remove(0)
        })
        .collect()
}

/// Submits every request at once, then collects them all.
pub fn run_together(engine: &EngineHandle, requests: &[EngineRequest]) -> Vec<CompletedSample> {
    let streams: Vec<_> = requests.iter().map(|r| engine.submit(r.clone()).expect("submit")).collect();
    streams
        .into_iter()
        .map(|s| {
            let mut samples = s.collect_blocking();
            samples.remove(0)
        })
        .collect()
}

/// Waits (bounded) until the engine reports no running or waiting request and all blocks free.
pub fn wait_idle(engine: &EngineHandle) -> llmserve_engine::EngineStats {
    let start = std::time::Instant::now();
    loop {
        let stats = engine.stats();
        if stats.num_running == 0 && stats.num_waiting == 0 && stats.num_free_blocks == stats.num_blocks {
            return stats;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "engine did not become idle: {stats:?}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

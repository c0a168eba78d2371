//! Tests of the advisor: hand-computed costs and fleets ([`model`]), each rule firing and not firing at
//! its boundary ([`rules`]), the flags, their errors and the bench result file ([`args`]), and the
//! example in `docs/cost-advisor.md` against the real output ([`docs`]).
//!
//! The base case, computed by hand: 1,000 output tok/s, w = 0.25, 400 in / 100 out tokens per request
//! → 200 token-eq per request → 5 req/s per deployment. 864,000 req/day = 10 req/s average, 20 peak;
//! at 80 % utilization a deployment takes 4 req/s → 5 deployments × 2 GPUs × $2.50 × 730 h = $18,250.
//! API at $1 / $4 per 1M: $0.0008 per request × 26,280,000 requests/month = $21,024.

mod args;
mod docs;
mod model;
mod rules;

use std::collections::BTreeMap;

use super::inputs::{
    AdviseInputs, BenchMeasurement, DataPolicy, DataSensitivity, GpuPrices, LatencyTargets, Measurement, Mix, Workload,
};
use super::model::ApiPrices;
use crate::result::{BenchResult, RequestRate, TokenCountSource};

/// The base case of the module doc.
pub(super) fn base_inputs() -> AdviseInputs {
    AdviseInputs {
        measurement: Measurement::OutputThroughput { output_tokens_per_s: 1000.0 },
        gpu: GpuPrices { usd_per_gpu_hour: 2.5, gpus_per_deployment: 2 },
        api: ApiPrices { input_usd_per_million: 1.0, output_usd_per_million: 4.0 },
        workload: Workload {
            daily_requests: 864_000.0,
            mix: Mix { input_tokens: 400.0, output_tokens: 100.0 },
            peak_to_average: 2.0,
        },
        data: DataPolicy { sensitivity: DataSensitivity::Internal, compliance: Vec::new(), api_compliant: false },
        latency_targets: LatencyTargets::default(),
        utilization_target: 0.8,
        input_token_weight: 0.25,
    }
}

/// A bench run of 500 requests in 100 s, 400 in / 100 out tokens each (the base case's mix and
/// capacity: (50,000 + 0.25 × 200,000) / 100 s = 1,000 token-eq/s), p99 TTFT 800 ms, p99 TPOT 40 ms.
pub(super) fn bench_result() -> BenchResult {
    let latency_ms: BTreeMap<String, f64> = [
        ("mean_ttft_ms", 300.0),
        ("median_ttft_ms", 250.0),
        ("p99_ttft_ms", 800.0),
        ("mean_tpot_ms", 25.0),
        ("median_tpot_ms", 24.0),
        ("p99_tpot_ms", 40.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    BenchResult {
        date: "20250101-000000".into(),
        label: "llmserve".into(),
        backend: "openai".into(),
        base_url: "http://127.0.0.1:8000".into(),
        endpoint: "/v1/completions".into(),
        model_id: "llama-3-8b".into(),
        hardware: "1x H100".into(),
        hardware_class: "H100".into(),
        dataset_name: "random".into(),
        num_prompts: 500,
        request_rate: RequestRate::Infinite,
        burstiness: 1.0,
        max_concurrency: None,
        ignore_eos: true,
        seed: 0,
        duration: 100.0,
        completed: 500,
        failed: 0,
        total_input_tokens: 200_000,
        total_output_tokens: 50_000,
        request_throughput: 5.0,
        request_goodput: None,
        goodput_slo_ms: BTreeMap::new(),
        output_throughput: 500.0,
        total_token_throughput: 2500.0,
        output_token_source: TokenCountSource::ServerUsage,
        latency_ms,
        input_lens: vec![400; 500],
        output_lens: vec![100; 500],
        ttfts: vec![0.25; 500],
        itls: Vec::new(),
        errors: vec![String::new(); 500],
    }
}

/// The base case measured by [`bench_result`] instead of `--throughput-tok-s`.
pub(super) fn bench_inputs(result: &BenchResult) -> AdviseInputs {
    let measurement = BenchMeasurement::from_result(result, "run.json").expect("usable bench result");
    AdviseInputs { measurement: Measurement::Bench(measurement), ..base_inputs() }
}

/// `|a − b| <= 1e-9 × max(1, |b|)`.
pub(super) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[track_caller]
pub(super) fn assert_close(a: f64, b: f64) {
    assert!(close(a, b), "{a} != {b}");
}

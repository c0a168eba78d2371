//! The result files of `llmserve bench serve` and `llmserve bench sweep`: one [`BenchResult`] per run,
//! with vLLM's field names (`vllm bench serve --save-result`: `request_throughput`, `mean_ttft_ms`,
//! `p99_itl_ms`, `input_lens`, `ttfts`, …) so tools written for vLLM's JSON read ours, plus what a
//! comparison needs and vLLM leaves implicit: the server's label, the hardware and its class, where the
//! token counts came from. A [`SweepResult`] is the list of runs of one server at several loads.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The arrival rate of a run: requests per second, or all at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RequestRate {
    /// Every request is sent at time 0 (vLLM's `--request-rate inf`).
    Infinite,
    PerSecond(f64),
}

impl RequestRate {
    pub fn as_f64(self) -> f64 {
        match self {
            RequestRate::Infinite => f64::INFINITY,
            RequestRate::PerSecond(r) => r,
        }
    }
}

impl fmt::Display for RequestRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestRate::Infinite => write!(f, "inf"),
            RequestRate::PerSecond(r) => write!(f, "{r}"),
        }
    }
}

impl std::str::FromStr for RequestRate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("inf") {
            return Ok(RequestRate::Infinite);
        }
        match s.parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 => Ok(RequestRate::PerSecond(r)),
            Ok(r) if r.is_infinite() && r > 0.0 => Ok(RequestRate::Infinite),
            _ => Err(format!("request rate must be a positive number of requests per second or `inf`, got `{s}`")),
        }
    }
}

/// JSON has no infinity (vLLM's files carry a non-standard `Infinity`): the rate is a number or the
/// string "inf".
impl Serialize for RequestRate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RequestRate::Infinite => s.serialize_str("inf"),
            RequestRate::PerSecond(r) => s.serialize_f64(*r),
        }
    }
}

impl<'de> Deserialize<'de> for RequestRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(r) if r > 0.0 => Ok(if r.is_finite() { RequestRate::PerSecond(r) } else { RequestRate::Infinite }),
            Raw::Number(r) => Err(serde::de::Error::custom(format!("request_rate must be positive, got {r}"))),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The latency metrics vLLM reports, each as mean / median / std / chosen percentiles in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LatencyMetric {
    /// Time to first token: request sent → first chunk carrying content.
    Ttft,
    /// Time per output token, per request: (e2el − ttft) / (output tokens − 1).
    Tpot,
    /// Inter-token latency: every gap between consecutive content chunks.
    Itl,
    /// End-to-end latency: request sent → last content chunk.
    E2el,
}

impl LatencyMetric {
    pub const ALL: [LatencyMetric; 4] = [LatencyMetric::Ttft, LatencyMetric::Tpot, LatencyMetric::Itl, LatencyMetric::E2el];

    /// The key fragment vLLM uses (`mean_ttft_ms`, `p99_itl_ms`, …).
    pub fn key(self) -> &'static str {
        match self {
            LatencyMetric::Ttft => "ttft",
            LatencyMetric::Tpot => "tpot",
            LatencyMetric::Itl => "itl",
            LatencyMetric::E2el => "e2el",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            LatencyMetric::Ttft => "Time to First Token",
            LatencyMetric::Tpot => "Time per Output Token (excl. 1st token)",
            LatencyMetric::Itl => "Inter-token Latency",
            LatencyMetric::E2el => "End-to-end Latency",
        }
    }
}

/// Which statistic of a latency metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    Mean,
    Median,
    Std,
    /// A percentile in (0, 100]: `Percentile(99.0)` is `p99`.
    Percentile(f64),
}

impl Stat {
    /// vLLM's key: `mean`, `median`, `std`, `p99`, `p99.9`.
    pub fn key(self) -> String {
        match self {
            Stat::Mean => "mean".into(),
            Stat::Median => "median".into(),
            Stat::Std => "std".into(),
            Stat::Percentile(p) => format!("p{}", format_percentile(p)),
        }
    }
}

/// `99.0` → `99`, `99.9` → `99.9` (vLLM's `p{int(p) if int(p) == p else p}`).
pub fn format_percentile(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{}", p as i64)
    } else {
        format!("{p}")
    }
}

/// Where output token counts came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenCountSource {
    /// The server's `usage` (every successful request reported it).
    ServerUsage,
    /// At least one request had no usage: its generated text was re-tokenized (vLLM's fallback).
    Tokenizer,
}

/// One run of `llmserve bench serve` (or one point of a sweep).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchResult {
    /// UTC start time, `YYYYMMDD-HHMMSS` (vLLM's format).
    pub date: String,
    /// Which server this was (`--label`, e.g. `llmserve`, `llama-server`, `vllm`).
    pub label: String,
    /// `openai` (/v1/completions) or `openai-chat` (/v1/chat/completions).
    pub backend: String,
    pub base_url: String,
    pub endpoint: String,
    pub model_id: String,
    /// Free text: the machine (`--hardware`, default: CPU model and core count, or the GPU).
    pub hardware: String,
    /// What anchors are compared against: `H100`, `H200`, `A100`, `cpu` … (`--hardware-class`).
    pub hardware_class: String,
    pub dataset_name: String,
    pub num_prompts: usize,
    pub request_rate: RequestRate,
    pub burstiness: f64,
    pub max_concurrency: Option<usize>,
    pub ignore_eos: bool,
    pub seed: u64,
    /// Wall time of the run, first request sent → last response finished (s).
    pub duration: f64,
    pub completed: usize,
    pub failed: usize,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub request_throughput: f64,
    /// Requests per second meeting every `--goodput` threshold; absent without `--goodput`.
    pub request_goodput: Option<f64>,
    /// The `--goodput` thresholds in ms, by metric key (`ttft`, `tpot`, `e2el`).
    #[serde(default)]
    pub goodput_slo_ms: BTreeMap<String, f64>,
    pub output_throughput: f64,
    pub total_token_throughput: f64,
    pub output_token_source: TokenCountSource,
    /// `mean_ttft_ms`, `median_ttft_ms`, `std_ttft_ms`, `p99_ttft_ms`, … for ttft, tpot, itl, e2el.
    #[serde(flatten)]
    pub latency_ms: BTreeMap<String, f64>,
    /// Per request, in dataset order (0 for a failed request's output).
    pub input_lens: Vec<u64>,
    pub output_lens: Vec<u64>,
    /// Per request (s); 0 for a failed request.
    pub ttfts: Vec<f64>,
    pub itls: Vec<Vec<f64>>,
    /// Per request: empty when it succeeded.
    pub errors: Vec<String>,
}

impl BenchResult {
    /// A latency statistic in ms, e.g. `latency(Ttft, Stat::Percentile(99.0))`; `None` when the run did
    /// not compute it (a percentile not asked for).
    pub fn latency(&self, metric: LatencyMetric, stat: Stat) -> Option<f64> {
        self.latency_ms.get(&format!("{}_{}_ms", stat.key(), metric.key())).copied()
    }

    pub fn read(path: &Path) -> Result<BenchResult, ResultFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ResultFileError::Io(path.display().to_string(), e))?;
        serde_json::from_str(&text).map_err(|e| {
            if serde_json::from_str::<SweepResult>(&text).is_ok() {
                ResultFileError::IsSweep(path.display().to_string())
            } else {
                ResultFileError::Parse(path.display().to_string(), e)
            }
        })
    }
}

/// The variable a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepAxis {
    /// Requests per second (Poisson arrivals unless burstiness says otherwise).
    RequestRate,
    /// A cap on requests in flight, every request sent at once.
    MaxConcurrency,
}

impl SweepAxis {
    /// Axis label with unit, for tables and plots.
    pub fn label(self) -> &'static str {
        match self {
            SweepAxis::RequestRate => "request rate (req/s)",
            SweepAxis::MaxConcurrency => "max concurrency (requests)",
        }
    }
}

/// One server at several loads (`llmserve bench sweep --result-json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepResult {
    pub label: String,
    pub axis: SweepAxis,
    pub points: Vec<SweepPoint>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The load on the sweep's axis (rate in req/s or a concurrency).
    pub load: f64,
    pub result: BenchResult,
}

impl SweepResult {
    pub fn read(path: &Path) -> Result<SweepResult, ResultFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ResultFileError::Io(path.display().to_string(), e))?;
        serde_json::from_str(&text).map_err(|e| ResultFileError::Parse(path.display().to_string(), e))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResultFileError {
    #[error("reading {0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0} is not a bench result file: {1}")]
    Parse(String, #[source] serde_json::Error),
    #[error("{0} is a sweep (`bench sweep`, several runs); give one run's result (`bench serve --result-json`)")]
    IsSweep(String),
}

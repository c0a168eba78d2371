//! The advisor's inputs: what one deployment measured, the prices, the user's workload, the data's
//! constraints and the targets. Built from the flags by [`super::args::AdviseArgs::to_inputs`] or
//! directly in code; [`AdviseInputs::validate`] rejects any value outside its range with an error naming
//! the flag and the range, so the model never divides by zero or prices a negative hour.

use serde::Serialize;

use super::error::AdviseError;
use super::model::ApiPrices;
use crate::result::{BenchResult, LatencyMetric, RequestRate, Stat};

/// Mean tokens per request.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Mix {
    pub input_tokens: f64,
    pub output_tokens: f64,
}

impl Mix {
    pub fn total(self) -> f64 {
        self.input_tokens + self.output_tokens
    }
}

/// How sensitive the data in the prompts is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DataSensitivity {
    Public,
    /// Ordinary business data: any reputable API will do.
    Internal,
    /// May go to an API only if the provider is approved for it (`--api-compliant`).
    Confidential,
    /// Never leaves our own hardware.
    Restricted,
}

/// A compliance need of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Compliance {
    /// No compliance need (the same as giving none).
    None,
    /// US health data: an API needs a signed BAA.
    Hipaa,
    /// EU personal data: an API needs a DPA and EU processing.
    Gdpr,
    /// Data must stay in a region: an API needs region pinning.
    DataResidency,
    /// No third party may process the data, approved or not.
    OnPremOnly,
}

impl Compliance {
    /// The flag value (`data-residency`).
    pub fn name(self) -> &'static str {
        match self {
            Compliance::None => "none",
            Compliance::Hipaa => "hipaa",
            Compliance::Gdpr => "gdpr",
            Compliance::DataResidency => "data-residency",
            Compliance::OnPremOnly => "on-prem-only",
        }
    }
}

/// The statistic a latency check used: p99 when the bench computed it, else the median.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyStat {
    P99,
    Median,
}

/// One latency statistic of the bench run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeasuredLatency {
    pub stat: LatencyStat,
    pub ms: f64,
}

impl MeasuredLatency {
    /// p99 if the run computed it, else the median, else nothing.
    pub fn from_result(result: &BenchResult, metric: LatencyMetric) -> Option<MeasuredLatency> {
        let p99 = result.latency(metric, Stat::Percentile(99.0)).map(|ms| MeasuredLatency { stat: LatencyStat::P99, ms });
        p99.or_else(|| result.latency(metric, Stat::Median).map(|ms| MeasuredLatency { stat: LatencyStat::Median, ms }))
    }
}

/// What a bench result says about one deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchMeasurement {
    /// Where it came from, for the report: file, server label, hardware.
    pub source: String,
    pub hardware: String,
    pub duration_s: f64,
    pub completed: u64,
    /// Failed requests make the throughput that of an overloaded or faulty server: a warning.
    pub failed: u64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    /// The offered request rate; `None` when all requests were sent at once (saturating by design).
    pub offered_request_rate: Option<f64>,
    pub ttft: Option<MeasuredLatency>,
    pub tpot: Option<MeasuredLatency>,
}

impl BenchMeasurement {
    /// Takes what the advisor needs from a result file, refusing one that cannot give a capacity.
    pub fn from_result(result: &BenchResult, path: &str) -> Result<BenchMeasurement, AdviseError> {
        let unusable = |reason: String| AdviseError::BenchUnusable { path: path.to_string(), reason };
        if result.completed == 0 {
            return Err(unusable("no request completed".into()));
        }
        if !(result.duration.is_finite() && result.duration > 0.0) {
            return Err(unusable(format!("duration must be > 0 s, got {}", result.duration)));
        }
        if result.total_output_tokens == 0 {
            return Err(unusable("no output token was generated".into()));
        }
        Ok(BenchMeasurement {
            source: format!("bench result {path} ({} on {})", result.label, result.hardware),
            hardware: result.hardware.clone(),
            duration_s: result.duration,
            completed: result.completed as u64,
            failed: result.failed as u64,
            total_input_tokens: result.total_input_tokens,
            total_output_tokens: result.total_output_tokens,
            offered_request_rate: match result.request_rate {
                RequestRate::Infinite => None,
                RequestRate::PerSecond(r) => Some(r),
            },
            ttft: MeasuredLatency::from_result(result, LatencyMetric::Ttft),
            tpot: MeasuredLatency::from_result(result, LatencyMetric::Tpot),
        })
    }

    /// The bench's mean tokens per request.
    pub fn mix(&self) -> Mix {
        Mix {
            input_tokens: self.total_input_tokens as f64 / self.completed as f64,
            output_tokens: self.total_output_tokens as f64 / self.completed as f64,
        }
    }

    pub fn request_throughput(&self) -> f64 {
        self.completed as f64 / self.duration_s
    }
}

/// The measured capacity of one deployment.
#[derive(Clone, Debug, PartialEq)]
pub enum Measurement {
    Bench(BenchMeasurement),
    /// `--throughput-tok-s`: output tokens/s, nothing else known (no mix, no latency).
    OutputThroughput { output_tokens_per_s: f64 },
}

/// Self-hosting prices.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GpuPrices {
    pub usd_per_gpu_hour: f64,
    /// GPUs of one deployment (one server process, e.g. tensor-parallel over 2).
    pub gpus_per_deployment: u32,
}

/// The user's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Workload {
    pub daily_requests: f64,
    pub mix: Mix,
    /// Peak request rate over the day's average: capacity must cover the peak.
    pub peak_to_average: f64,
}

/// Who may process the data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataPolicy {
    pub sensitivity: DataSensitivity,
    pub compliance: Vec<Compliance>,
    /// The API provider is contractually approved for this data (BAA signed, region pinned, DPA …).
    pub api_compliant: bool,
}

/// Latency targets, checked against the bench's p99 (or median).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyTargets {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AdviseInputs {
    pub measurement: Measurement,
    pub gpu: GpuPrices,
    pub api: ApiPrices,
    pub workload: Workload,
    pub data: DataPolicy,
    pub latency_targets: LatencyTargets,
    /// Replicas are planned to run at most this busy at the peak, in (0, 1].
    pub utilization_target: f64,
    /// Cost of an input token in output-token equivalents (see `model::DEFAULT_INPUT_TOKEN_WEIGHT`).
    pub input_token_weight: f64,
}

/// `Err` naming the flag and the allowed range unless `ok`.
fn check(ok: bool, flag: &'static str, allowed: &'static str, got: f64) -> Result<(), AdviseError> {
    if ok {
        Ok(())
    } else {
        Err(AdviseError::OutOfRange { flag, allowed, got: got.to_string() })
    }
}

fn positive(flag: &'static str, allowed: &'static str, v: f64) -> Result<(), AdviseError> {
    check(v.is_finite() && v > 0.0, flag, allowed, v)
}

fn non_negative(flag: &'static str, allowed: &'static str, v: f64) -> Result<(), AdviseError> {
    check(v.is_finite() && v >= 0.0, flag, allowed, v)
}

impl AdviseInputs {
    /// Every value in its range, in flag order; the first bad one is the error.
    pub fn validate(&self) -> Result<(), AdviseError> {
        if let Measurement::OutputThroughput { output_tokens_per_s } = self.measurement {
            positive("--throughput-tok-s", "a number > 0 (output tokens/s of one deployment)", output_tokens_per_s)?;
        }
        positive("--gpu-price-per-hour", "a number > 0 (USD per GPU-hour; for owned hardware, its amortised cost plus power)", self.gpu.usd_per_gpu_hour)?;
        check(self.gpu.gpus_per_deployment >= 1, "--gpus", "an integer >= 1 (GPUs per deployment)", f64::from(self.gpu.gpus_per_deployment))?;
        non_negative("--api-price-input", "a number >= 0 (USD per 1M input tokens)", self.api.input_usd_per_million)?;
        non_negative("--api-price-output", "a number >= 0 (USD per 1M output tokens)", self.api.output_usd_per_million)?;
        positive("--daily-requests", "a number > 0 (requests per day)", self.workload.daily_requests)?;
        non_negative("--input-tokens", "a number >= 0 (mean input tokens per request)", self.workload.mix.input_tokens)?;
        let out = self.workload.mix.output_tokens;
        check(out.is_finite() && out >= 1.0, "--output-tokens", "a number >= 1 (mean output tokens per request)", out)?;
        let p = self.workload.peak_to_average;
        check(p.is_finite() && p >= 1.0, "--peak-to-average", "a number >= 1 (peak request rate / average)", p)?;
        if let Some(ttft) = self.latency_targets.ttft_ms {
            positive("--latency-target-ttft-ms", "a number > 0 (ms)", ttft)?;
        }
        if let Some(tpot) = self.latency_targets.tpot_ms {
            positive("--latency-target-tpot-ms", "a number > 0 (ms)", tpot)?;
        }
        let u = self.utilization_target;
        check(u.is_finite() && u > 0.0 && u <= 1.0, "--utilization-target", "in (0, 1] (fraction of capacity used at the peak)", u)?;
        let w = self.input_token_weight;
        check((0.0..=1.0).contains(&w), "--input-token-weight", "in [0, 1] (cost of an input token in output tokens)", w)?;
        let c = &self.data.compliance;
        if c.contains(&Compliance::None) && c.iter().any(|&x| x != Compliance::None) {
            let names: Vec<&str> = c.iter().map(|x| x.name()).collect();
            return Err(AdviseError::ComplianceNoneCombined(names.join(",")));
        }
        Ok(())
    }
}

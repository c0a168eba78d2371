//! The serving metrics, computed exactly as vLLM's `vllm bench serve` computes them
//! (`vllm/benchmarks/serve.py`, `calculate_metrics`), from one timeline per request:
//!
//! - TTFT: request sent → first chunk carrying content.
//! - ITL: every gap between consecutive content chunks (a chunk carrying several tokens is one gap).
//! - E2EL: request sent → last content chunk.
//! - TPOT per request: (E2EL − TTFT) / (output tokens − 1), only for requests with more than one output
//!   token; for goodput a one-token request counts as TPOT 0.
//! - Throughputs over the run's wall time: completed requests, output tokens (server usage), input +
//!   output tokens. Input tokens are counted for completed requests only, output tokens of a failed
//!   request are 0.
//! - Goodput: completed requests per second meeting every given threshold (TTFT, TPOT, E2EL, in ms).
//! - Statistics: mean, median, population standard deviation and percentiles with linear
//!   interpolation (numpy's defaults); an empty set reports 0, as vLLM does (`np.mean(x or 0)`).

use std::collections::BTreeMap;

use crate::result::{format_percentile, LatencyMetric, Stat, TokenCountSource};

/// What one request looked like from the client.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestTimeline {
    pub success: bool,
    /// Why it failed (empty on success).
    pub error: String,
    /// Prompt tokens: the server's `usage.prompt_tokens`, else the dataset's count.
    pub prompt_len: u64,
    /// `usage.completion_tokens`, when the server sent usage.
    pub output_tokens: Option<u64>,
    /// The concatenated content (for the tokenizer fallback when there is no usage).
    pub generated_text: String,
    /// Seconds from sending the request to the first content chunk.
    pub ttft: f64,
    /// Seconds between consecutive content chunks.
    pub itl: Vec<f64>,
    /// Seconds from sending to the last content chunk.
    pub latency: f64,
}

/// `--goodput` service-level objectives, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GoodputSlo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2el_ms: Option<f64>,
}

impl GoodputSlo {
    pub fn is_empty(&self) -> bool {
        self.ttft_ms.is_none() && self.tpot_ms.is_none() && self.e2el_ms.is_none()
    }

    /// vLLM's syntax: `ttft:500 tpot:50 e2el:3000` (milliseconds, each at most once).
    pub fn parse(items: &[String]) -> Result<GoodputSlo, String> {
        let mut slo = GoodputSlo::default();
        for item in items {
            let (key, value) = item
                .split_once(':')
                .ok_or_else(|| format!("--goodput takes KEY:MILLISECONDS pairs (keys ttft, tpot, e2el), got `{item}`"))?;
            let ms: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("--goodput {key}: `{value}` is not a non-negative number of milliseconds"))?;
            let slot = match key {
                "ttft" => &mut slo.ttft_ms,
                "tpot" => &mut slo.tpot_ms,
                "e2el" => &mut slo.e2el_ms,
                other => return Err(format!("--goodput: unknown metric `{other}` (allowed: ttft, tpot, e2el)")),
            };
            if slot.replace(ms).is_some() {
                return Err(format!("--goodput: `{key}` given twice"));
            }
        }
        Ok(slo)
    }

    /// The thresholds by metric key, for the result file.
    pub fn as_map(&self) -> BTreeMap<String, f64> {
        [("ttft", self.ttft_ms), ("tpot", self.tpot_ms), ("e2el", self.e2el_ms)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect()
    }
}

/// The aggregate of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct ServingMetrics {
    pub completed: usize,
    pub failed: usize,
    pub total_input: u64,
    pub total_output: u64,
    pub request_throughput: f64,
    pub request_goodput: Option<f64>,
    pub output_throughput: f64,
    pub total_token_throughput: f64,
    /// Per request, in input order; 0 for a failed request.
    pub output_lens: Vec<u64>,
    pub output_token_source: TokenCountSource,
    /// `mean_ttft_ms`, `median_ttft_ms`, `std_ttft_ms`, `p99_ttft_ms`, … (vLLM's keys).
    pub latency_ms: BTreeMap<String, f64>,
}

/// Computes the run's metrics. `duration_s` is the wall time of the run; `percentiles` in (0, 100];
/// `count_tokens` re-tokenizes the generated text of a successful request the server sent no usage
/// for (vLLM's fallback), and the result then says so.
pub fn compute_metrics(
    timelines: &[RequestTimeline],
    duration_s: f64,
    percentiles: &[f64],
    slo: &GoodputSlo,
    count_tokens: &dyn Fn(&str) -> u64,
) -> ServingMetrics {
    let mut output_lens = Vec::with_capacity(timelines.len());
    let (mut total_input, mut completed) = (0u64, 0usize);
    let (mut ttfts, mut tpots, mut all_tpots, mut itls, mut e2els) = (vec![], vec![], vec![], vec![], vec![]);
    let mut source = TokenCountSource::ServerUsage;
    for t in timelines {
        if !t.success {
            output_lens.push(0);
            continue;
        }
        let output_len = match t.output_tokens {
            Some(n) if n > 0 => n,
            _ => {
                source = TokenCountSource::Tokenizer;
                count_tokens(&t.generated_text)
            }
        };
        output_lens.push(output_len);
        total_input += t.prompt_len;
        let mut tpot = 0.0;
        if output_len > 1 {
            tpot = (t.latency - t.ttft) / (output_len - 1) as f64;
            tpots.push(tpot);
        }
        all_tpots.push(tpot);
        itls.extend_from_slice(&t.itl);
        ttfts.push(t.ttft);
        e2els.push(t.latency);
        completed += 1;
    }
    let total_output: u64 = output_lens.iter().sum();
    let request_goodput = (!slo.is_empty()).then(|| {
        let good = (0..completed)
            .filter(|&i| {
                slo.ttft_ms.is_none_or(|ms| ttfts[i] <= ms / 1000.0)
                    && slo.tpot_ms.is_none_or(|ms| all_tpots[i] <= ms / 1000.0)
                    && slo.e2el_ms.is_none_or(|ms| e2els[i] <= ms / 1000.0)
            })
            .count();
        good as f64 / duration_s
    });
    let mut latency_ms = BTreeMap::new();
    for (metric, values) in
        [(LatencyMetric::Ttft, &ttfts), (LatencyMetric::Tpot, &tpots), (LatencyMetric::Itl, &itls), (LatencyMetric::E2el, &e2els)]
    {
        let key = |stat: Stat| format!("{}_{}_ms", stat.key(), metric.key());
        latency_ms.insert(key(Stat::Mean), mean(values) * 1000.0);
        latency_ms.insert(key(Stat::Median), percentile(values, 50.0) * 1000.0);
        latency_ms.insert(key(Stat::Std), std_dev(values) * 1000.0);
        for &p in percentiles {
            latency_ms.insert(format!("p{}_{}_ms", format_percentile(p), metric.key()), percentile(values, p) * 1000.0);
        }
    }
    ServingMetrics {
        completed,
        failed: timelines.len() - completed,
        total_input,
        total_output,
        request_throughput: completed as f64 / duration_s,
        request_goodput,
        output_throughput: total_output as f64 / duration_s,
        total_token_throughput: (total_input + total_output) as f64 / duration_s,
        output_lens,
        output_token_source: source,
        latency_ms,
    }
}

/// Arithmetic mean; 0 for no values.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Population standard deviation (numpy's `np.std`, ddof = 0); 0 for no values.
pub fn std_dev(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / values.len() as f64).sqrt()
}

/// Percentile `p` in [0, 100] with linear interpolation between closest ranks (numpy's default):
/// rank = p/100 · (n − 1). 0 for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;

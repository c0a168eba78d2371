//! The cost model's formulas and constants, each a named function with the rule it states: capacity of
//! one deployment at the user's token mix, replicas, GPU hours, costs per 1M tokens and per month,
//! the break-even volume and the overflow of a fleet sized for the average load (the hybrid plan).
//! Everything here is pure arithmetic on validated inputs, O(1); `docs/cost-advisor.md` repeats every
//! formula.

use serde::Serialize;

use super::inputs::{Measurement, Mix};

/// Hours in an average month: 24 × 365 / 12 = 730. GPUs are billed around the clock.
pub const HOURS_PER_MONTH: f64 = 24.0 * 365.0 / 12.0;
/// Days in an average month (365 / 12 ≈ 30.42), the same month as [`HOURS_PER_MONTH`].
pub const DAYS_PER_MONTH: f64 = 365.0 / 12.0;
pub const SECONDS_PER_DAY: f64 = 86_400.0;
pub const SECONDS_PER_HOUR: f64 = 3_600.0;
/// Prices are per 1M tokens.
pub const TOKENS_PER_MILLION: f64 = 1_000_000.0;

/// Default cost of one input (prompt) token in output-token equivalents. Prefill processes a prompt's
/// tokens in parallel (compute-bound) while decode makes one forward pass per output token
/// (memory-bandwidth-bound), so an input token costs the server a fraction of an output token; long
/// prompts also hold KV-cache blocks, which lowers the batch size. Measured serving runs put the ratio
/// between about 0.1 and 0.3; API price lists (input 3–5× cheaper than output) agree. 0.25 is the
/// middle; `--input-token-weight` overrides it.
pub const DEFAULT_INPUT_TOKEN_WEIGHT: f64 = 0.25;
/// Default peak-to-average ratio of the request rate: daytime traffic is about twice the day's mean.
pub const DEFAULT_PEAK_TO_AVERAGE: f64 = 2.0;
/// Default utilization target: replicas are planned to run at most 70 % busy at the peak, leaving
/// headroom for bursts within the peak hour and keeping queueing (and so TTFT) near the measured one.
pub const DEFAULT_UTILIZATION_TARGET: f64 = 0.7;
/// The user's mean input or output tokens per request differing from the bench's by more than this
/// factor (either way) makes the scaled capacity a guess worth a warning.
pub const MIX_WARNING_RATIO: f64 = 2.0;
/// A bench run at a fixed request rate that completed at least this fraction of the offered rate kept up
/// with its load: the server may have had spare capacity, so the measured throughput is a lower bound.
pub const SATURATION_HINT_RATIO: f64 = 0.9;

/// Token-equivalents of one request: `output + w × input`. The server's work per request is dominated
/// by decode (one step per output token); prompt tokens add `w` each (see
/// [`DEFAULT_INPUT_TOKEN_WEIGHT`]).
pub fn token_equivalents(mix: Mix, input_token_weight: f64) -> f64 {
    mix.output_tokens + input_token_weight * mix.input_tokens
}

/// The measured capacity of one deployment in token-equivalents per second.
/// - Bench result: `(total_output_tokens + w × total_input_tokens) / duration` — what the run processed.
/// - `--throughput-tok-s N`: `N`. Only output tokens are known, so the figure is taken as decode-only
///   capacity and the user's prompts are charged at `w` per token on top (conservative when `N` was
///   measured with prompts included).
pub fn token_equivalent_rate(measurement: &Measurement, input_token_weight: f64) -> f64 {
    match measurement {
        Measurement::Bench(b) => {
            (b.total_output_tokens as f64 + input_token_weight * b.total_input_tokens as f64) / b.duration_s
        }
        Measurement::OutputThroughput { output_tokens_per_s } => *output_tokens_per_s,
    }
}

/// Capacity of one deployment in requests/s at the user's mix: the measured token-equivalent rate
/// divided by the token-equivalents of one of the user's requests. At the bench's own mix this is the
/// bench's `completed / duration`.
pub fn capacity_requests_per_s(token_equivalent_rate: f64, mix: Mix, input_token_weight: f64) -> f64 {
    token_equivalent_rate / token_equivalents(mix, input_token_weight)
}

/// Deployments needed: `max(1, ceil(peak demand / (capacity × utilization target)))` — the peak must
/// fit with every replica at most `utilization target` busy.
pub fn replicas_needed(peak_requests_per_s: f64, capacity_requests_per_s: f64, utilization_target: f64) -> u32 {
    let needed = (peak_requests_per_s / (capacity_requests_per_s * utilization_target)).ceil();
    if needed.is_finite() && needed >= 1.0 {
        needed.min(u32::MAX as f64) as u32
    } else {
        1
    }
}

/// GPU hours per month: `replicas × GPUs per deployment × 730`.
pub fn gpu_hours_per_month(replicas: u32, gpus_per_deployment: u32) -> f64 {
    f64::from(replicas) * f64::from(gpus_per_deployment) * HOURS_PER_MONTH
}

/// USD per 1M tokens (input + output) for a cost spread over a token count.
pub fn usd_per_million_tokens(usd: f64, tokens: f64) -> f64 {
    usd / (tokens / TOKENS_PER_MILLION)
}

/// Self-hosted floor per 1M tokens: one deployment's hourly price over the tokens it processes in an
/// hour at 100 % of its capacity (`capacity × 3600 × (input + output)`): no fleet does better.
pub fn self_host_floor_per_million(deployment_usd_per_hour: f64, capacity_requests_per_s: f64, mix: Mix) -> f64 {
    usd_per_million_tokens(deployment_usd_per_hour, capacity_requests_per_s * SECONDS_PER_HOUR * mix.total())
}

/// API prices per 1M input and output tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ApiPrices {
    pub input_usd_per_million: f64,
    pub output_usd_per_million: f64,
}

/// API cost of one request: `(input × price_in + output × price_out) / 1M`.
pub fn api_cost_per_request(mix: Mix, prices: ApiPrices) -> f64 {
    (mix.input_tokens * prices.input_usd_per_million + mix.output_tokens * prices.output_usd_per_million)
        / TOKENS_PER_MILLION
}

/// API blended price per 1M tokens at a mix: `(input × price_in + output × price_out) / (input + output)`.
pub fn api_blended_per_million(mix: Mix, prices: ApiPrices) -> f64 {
    usd_per_million_tokens(api_cost_per_request(mix, prices), mix.total())
}

/// Where the API's and one deployment's monthly costs meet, in daily requests.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BreakEven {
    /// At `daily_requests` the API costs as much per month as one deployment; above it self-hosting is
    /// cheaper until `one_deployment_max_daily_requests`, where a second deployment is needed (with `k`
    /// deployments the break-even is `k × daily_requests`).
    At { daily_requests: f64, one_deployment_max_daily_requests: f64 },
    /// The API is cheaper at every volume one deployment can serve — and so at every volume, since each
    /// further deployment adds the same cost and the same capacity.
    Never { api_monthly_usd_at_one_deployment_max: f64, deployment_monthly_usd: f64, one_deployment_max_daily_requests: f64 },
}

/// The break-even rule: one deployment costs `D = GPUs × price × 730` per month; the API costs
/// `a × V × 30.42` for `V` daily requests at `a` USD each, so `V* = D / (a × 30.42)`. One deployment
/// serves at most `V1 = capacity × utilization target × 86400 / peak-to-average` daily requests; when
/// `a × V1 × 30.42 < D` the API is cheaper at any volume (`Never`).
pub fn break_even(deployment_monthly_usd: f64, api_usd_per_request: f64, one_deployment_max_daily_requests: f64) -> BreakEven {
    let api_at_max = api_usd_per_request * one_deployment_max_daily_requests * DAYS_PER_MONTH;
    if api_at_max < deployment_monthly_usd {
        BreakEven::Never {
            api_monthly_usd_at_one_deployment_max: api_at_max,
            deployment_monthly_usd,
            one_deployment_max_daily_requests,
        }
    } else {
        BreakEven::At {
            daily_requests: deployment_monthly_usd / (api_usd_per_request * DAYS_PER_MONTH),
            one_deployment_max_daily_requests,
        }
    }
}

/// Daily requests one deployment serves under the plan: its peak rate must stay under
/// `capacity × utilization target`, so the average is that over the peak-to-average ratio.
pub fn one_deployment_max_daily_requests(capacity_requests_per_s: f64, utilization_target: f64, peak_to_average: f64) -> f64 {
    capacity_requests_per_s * utilization_target * SECONDS_PER_DAY / peak_to_average
}

/// Fraction of the day's requests above a fleet's capacity, for the hybrid plan (fleet for the base
/// load, API for the overflow). Traffic model: the day's load-duration curve (request rates sorted from
/// the highest) is a straight line, in units of the average rate (1):
/// - peak-to-average `p ≤ 2`: from `p` down to `2 − p` over the whole day;
/// - `p > 2`: from `p` down to 0 over a fraction `2 / p` of the day, then idle.
///
/// Both have mean 1 and peak `p`. With the fleet's capacity `k` (in units of the average), the overflow
/// is the area of the curve above `k`: `((p − k) / p)²` when `p ≥ 2`; `(p − k)² / (4 (p − 1))` when
/// `p < 2` and `k ≥ 2 − p`; `1 − k` when `k < 2 − p`; 0 when `k ≥ p`.
pub fn overflow_fraction(peak_to_average: f64, capacity_over_average: f64) -> f64 {
    let (p, k) = (peak_to_average, capacity_over_average.max(0.0));
    if k >= p {
        return 0.0;
    }
    if p >= 2.0 {
        return ((p - k) / p).powi(2);
    }
    let lowest = 2.0 - p;
    if k <= lowest {
        1.0 - k
    } else {
        (p - k).powi(2) / (4.0 * (p - 1.0))
    }
}

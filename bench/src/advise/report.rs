//! [`advise`]: validated inputs → the whole [`Advice`] (capacity, fleet, costs of self-hosting, the API
//! and the hybrid plan, break-even, latency checks, recommendation, assumptions, warnings). Pure: no
//! files, no clock; the formulas live in [`super::model`], the rules in [`super::rules`].

use serde::Serialize;

use super::inputs::{AdviseInputs, Measurement, Mix};
use super::latency::{latency_checks, LatencyCheck};
use super::model::{
    api_blended_per_million, api_cost_per_request, break_even, capacity_requests_per_s, gpu_hours_per_month,
    one_deployment_max_daily_requests, overflow_fraction, replicas_needed, self_host_floor_per_million,
    token_equivalent_rate, usd_per_million_tokens, BreakEven, DAYS_PER_MONTH, HOURS_PER_MONTH, MIX_WARNING_RATIO,
    SATURATION_HINT_RATIO, SECONDS_PER_DAY,
};
use super::rules::{recommend, Costs, Recommendation, RuleContext};

/// One deployment's capacity at the user's mix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CapacityReport {
    /// The bench result file (server, hardware) or `--throughput-tok-s`.
    pub source: String,
    pub input_token_weight: f64,
    /// Measured: output tokens/s + w × input tokens/s.
    pub token_equivalents_per_s: f64,
    /// The bench's mean tokens per request; absent with `--throughput-tok-s`.
    pub bench_mix: Option<Mix>,
    pub user_mix: Mix,
    /// At 100 % of capacity.
    pub requests_per_s: f64,
    pub output_tokens_per_s: f64,
    /// `requests_per_s × utilization target`: what the plan loads a deployment with at the peak.
    pub planned_requests_per_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DemandReport {
    pub daily_requests: f64,
    pub average_requests_per_s: f64,
    pub peak_to_average: f64,
    pub peak_requests_per_s: f64,
    pub monthly_requests: f64,
    pub monthly_input_tokens: f64,
    pub monthly_output_tokens: f64,
}

/// A fleet sized for the peak.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SelfHostReport {
    pub deployments: u32,
    pub gpus_per_deployment: u32,
    pub gpu_hours_per_month: f64,
    pub monthly_usd: f64,
    /// Monthly cost over the month's tokens (input + output).
    pub usd_per_million_tokens: f64,
    /// One deployment at 100 % of capacity around the clock: the floor.
    pub usd_per_million_tokens_full_use: f64,
    /// Peak demand over the fleet's full capacity.
    pub utilization_at_peak: f64,
    pub utilization_at_average: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiReport {
    pub monthly_usd: f64,
    /// Blended at the user's mix.
    pub usd_per_million_tokens: f64,
    pub usd_per_request: f64,
}

/// A fleet sized for the average load, the API taking the requests above its capacity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HybridReport {
    pub deployments: u32,
    pub self_host_monthly_usd: f64,
    /// Fraction of requests sent to the API (`model::overflow_fraction`).
    pub overflow_fraction: f64,
    pub api_monthly_usd: f64,
    pub monthly_usd: f64,
    pub usd_per_million_tokens: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Advice {
    pub capacity: CapacityReport,
    pub demand: DemandReport,
    pub self_host: SelfHostReport,
    pub api: ApiReport,
    pub hybrid: HybridReport,
    /// For the minimum fleet of one deployment.
    pub break_even: BreakEven,
    pub latency: Vec<LatencyCheck>,
    pub recommendation: Recommendation,
    pub assumptions: Vec<String>,
    pub warnings: Vec<String>,
}

/// The advice for validated inputs (see [`AdviseInputs::validate`]).
pub fn advise(inputs: &AdviseInputs) -> Advice {
    let w = inputs.input_token_weight;
    let mix = inputs.workload.mix;
    let util = inputs.utilization_target;
    let p = inputs.workload.peak_to_average;
    let price = inputs.gpu.usd_per_gpu_hour;
    let gpus = inputs.gpu.gpus_per_deployment;

    let rate = token_equivalent_rate(&inputs.measurement, w);
    let cap = capacity_requests_per_s(rate, mix, w);
    let (source, bench_mix, hardware) = match &inputs.measurement {
        Measurement::Bench(b) => (b.source.clone(), Some(b.mix()), Some(b.hardware.as_str())),
        Measurement::OutputThroughput { output_tokens_per_s } => {
            (format!("--throughput-tok-s {output_tokens_per_s} (output tokens/s of one deployment)"), None, None)
        }
    };
    let capacity = CapacityReport {
        source,
        input_token_weight: w,
        token_equivalents_per_s: rate,
        bench_mix,
        user_mix: mix,
        requests_per_s: cap,
        output_tokens_per_s: cap * mix.output_tokens,
        planned_requests_per_s: cap * util,
    };

    let average = inputs.workload.daily_requests / SECONDS_PER_DAY;
    let monthly_requests = inputs.workload.daily_requests * DAYS_PER_MONTH;
    let demand = DemandReport {
        daily_requests: inputs.workload.daily_requests,
        average_requests_per_s: average,
        peak_to_average: p,
        peak_requests_per_s: average * p,
        monthly_requests,
        monthly_input_tokens: monthly_requests * mix.input_tokens,
        monthly_output_tokens: monthly_requests * mix.output_tokens,
    };
    let monthly_tokens = monthly_requests * mix.total();

    let deployment_usd_per_hour = f64::from(gpus) * price;
    let deployment_monthly_usd = deployment_usd_per_hour * HOURS_PER_MONTH;
    let deployments = replicas_needed(demand.peak_requests_per_s, cap, util);
    let gpu_hours = gpu_hours_per_month(deployments, gpus);
    let self_host = SelfHostReport {
        deployments,
        gpus_per_deployment: gpus,
        gpu_hours_per_month: gpu_hours,
        monthly_usd: gpu_hours * price,
        usd_per_million_tokens: usd_per_million_tokens(gpu_hours * price, monthly_tokens),
        usd_per_million_tokens_full_use: self_host_floor_per_million(deployment_usd_per_hour, cap, mix),
        utilization_at_peak: demand.peak_requests_per_s / (f64::from(deployments) * cap),
        utilization_at_average: average / (f64::from(deployments) * cap),
    };

    let per_request = api_cost_per_request(mix, inputs.api);
    let api = ApiReport {
        monthly_usd: per_request * monthly_requests,
        usd_per_million_tokens: api_blended_per_million(mix, inputs.api),
        usd_per_request: per_request,
    };

    let hybrid_deployments = replicas_needed(average, cap, util);
    let overflow = overflow_fraction(p, f64::from(hybrid_deployments) * cap * util / average);
    let hybrid_self = f64::from(hybrid_deployments) * deployment_monthly_usd;
    let hybrid_monthly = hybrid_self + overflow * api.monthly_usd;
    let hybrid = HybridReport {
        deployments: hybrid_deployments,
        self_host_monthly_usd: hybrid_self,
        overflow_fraction: overflow,
        api_monthly_usd: overflow * api.monthly_usd,
        monthly_usd: hybrid_monthly,
        usd_per_million_tokens: usd_per_million_tokens(hybrid_monthly, monthly_tokens),
    };

    let break_even = break_even(deployment_monthly_usd, per_request, one_deployment_max_daily_requests(cap, util, p));

    let (latency, mut warnings) = latency_checks(&inputs.measurement, inputs.latency_targets);
    warnings.extend(measurement_warnings(&inputs.measurement, mix));

    let costs = Costs {
        self_host_monthly_usd: self_host.monthly_usd,
        self_host_deployments: deployments,
        api_monthly_usd: api.monthly_usd,
        hybrid_monthly_usd: hybrid.monthly_usd,
        hybrid_deployments,
        hybrid_overflow_fraction: overflow,
    };
    let ctx = RuleContext { data: &inputs.data, latency: &latency, costs, peak_to_average: p, hardware };
    let recommendation = recommend(&ctx);

    Advice {
        capacity,
        demand,
        self_host,
        api,
        hybrid,
        break_even,
        latency,
        recommendation,
        assumptions: assumptions(inputs),
        warnings,
    }
}

/// `Some(user / bench)` when the two differ by more than [`MIX_WARNING_RATIO`] either way (infinite when
/// the bench had none of a kind the user has).
pub fn mix_ratio_beyond_limit(user: f64, bench: f64) -> Option<f64> {
    if bench == 0.0 {
        return (user > 0.0).then_some(f64::INFINITY);
    }
    let ratio = user / bench;
    (!(1.0 / MIX_WARNING_RATIO..=MIX_WARNING_RATIO).contains(&ratio)).then_some(ratio)
}

/// Warnings about the measurement: a mix far from the bench's, failed requests, a run that may not
/// have saturated the server.
fn measurement_warnings(measurement: &Measurement, user: Mix) -> Vec<String> {
    let Measurement::Bench(b) = measurement else { return Vec::new() };
    let mut warnings = Vec::new();
    let bench = b.mix();
    let kinds = [("input", user.input_tokens, bench.input_tokens), ("output", user.output_tokens, bench.output_tokens)];
    for (kind, u, m) in kinds {
        if let Some(ratio) = mix_ratio_beyond_limit(u, m) {
            warnings.push(format!(
                "your mean {kind} tokens per request ({u:.0}) are {ratio:.2}× the bench's ({m:.0}): the capacity is scaled, not measured; re-run `llmserve bench serve --input-len {:.0} --output-len {:.0}` for a measured figure",
                user.input_tokens, user.output_tokens
            ));
        }
    }
    if b.failed > 0 {
        warnings.push(format!(
            "{} request(s) failed in the bench run: its throughput may be that of an overloaded or faulty server",
            b.failed
        ));
    }
    if let Some(offered) = b.offered_request_rate {
        let achieved = b.request_throughput();
        if achieved >= SATURATION_HINT_RATIO * offered {
            warnings.push(format!(
                "the bench offered {offered} req/s and completed {achieved:.2} req/s: the server kept up, so it may have had spare capacity and the capacity here is a lower bound; bench at `--request-rate inf` for the maximum"
            ));
        }
    }
    warnings
}

/// The assumptions behind the numbers, always listed.
fn assumptions(inputs: &AdviseInputs) -> Vec<String> {
    let w = inputs.input_token_weight;
    let mut list = vec![
        "a month is 730 h (24 × 365 / 12) = 30.42 days; every day has the same traffic".to_string(),
        format!(
            "one deployment = {} GPU(s) billed around the clock at the given price (no scale-to-zero, no reserved-instance discount)",
            inputs.gpu.gpus_per_deployment
        ),
        format!("a request costs output + {w} × input token-equivalents of server capacity (--input-token-weight)"),
    ];
    match &inputs.measurement {
        Measurement::Bench(_) => list.push(
            "the bench result is one deployment's capacity; its latency holds at the planned utilization".to_string(),
        ),
        Measurement::OutputThroughput { .. } => list.push(format!(
            "--throughput-tok-s gives output tokens/s only: it is taken as decode-only capacity and the input tokens' cost is estimated by the same weight ({w} output token per input token)"
        )),
    }
    list.extend([
        format!(
            "deployments are sized so the peak ({} × average) runs each at most {:.0} % busy",
            inputs.workload.peak_to_average,
            100.0 * inputs.utilization_target
        ),
        "hybrid: a fleet sized for the average load; requests above its capacity go to the API; the day's load-duration curve is a straight line (a triangle when peak/average > 2)".to_string(),
        "API: list prices per 1M tokens, no prompt-caching or batch discounts, no rate limits".to_string(),
        "ignored: engineering and operations time, networking, storage, egress, model licences".to_string(),
    ]);
    list
}

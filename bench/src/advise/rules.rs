//! The recommendation: four explicit rules in order, the first that matches decides, each giving its
//! reasons with the numbers.
//!
//! 1. [`compliance_rule`]: data that may not go to the API → self-host (even when the measured latency
//!    misses the target: then more replicas or faster hardware are needed, and the reasons say so).
//! 2. [`latency_rule`]: the measured latency misses a target → not self-host on this hardware as measured:
//!    API, or hybrid when self-hosting is cheaper.
//! 3. [`spiky_traffic_rule`]: peak-to-average ≥ [`SPIKY_PEAK_TO_AVERAGE`] and the hybrid plan (fleet for
//!    the average, API for the overflow) is cheaper than both pure options → hybrid.
//! 4. [`cost_margin_rule`] (always matches): one option cheaper by more than [`COST_MARGIN`] wins;
//!    within the margin → hybrid.
//!
//! The spiky rule runs before the cost rule because a peak-sized fleet can look cheap against the API
//! while a base-load fleet plus overflow is cheaper still.

use std::fmt;

use serde::Serialize;

use super::inputs::{Compliance, DataPolicy, DataSensitivity};
use super::latency::LatencyCheck;
use super::render::usd;

/// The cost rule's margin: one option must be more than 20 % cheaper than the other (relative to the
/// dearer one) to win outright. Below that the estimate's own error (capacity scaling, traffic shape,
/// prices that change) could flip the answer, so the advice is hybrid.
pub const COST_MARGIN: f64 = 0.20;
/// Traffic whose peak is at least 3× its average is spiky: a fleet sized for the peak idles two thirds
/// of its capacity on average, so a base-load fleet with API overflow is considered.
pub const SPIKY_PEAK_TO_AVERAGE: f64 = 3.0;

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    SelfHost,
    Api,
    Hybrid,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Choice::SelfHost => "self-host",
            Choice::Api => "API",
            Choice::Hybrid => "hybrid (self-host + API)",
        })
    }
}

/// Which rule decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleId {
    Compliance,
    Latency,
    SpikyTraffic,
    CostMargin,
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleId::Compliance => "1, compliance",
            RuleId::Latency => "2, latency target",
            RuleId::SpikyTraffic => "3, spiky traffic",
            RuleId::CostMargin => "4, cost margin",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    pub choice: Choice,
    pub rule: RuleId,
    pub reasons: Vec<String>,
}

/// The monthly costs the rules compare.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Costs {
    /// Fleet sized for the peak.
    pub self_host_monthly_usd: f64,
    pub self_host_deployments: u32,
    pub api_monthly_usd: f64,
    /// Fleet sized for the average + the API for the overflow.
    pub hybrid_monthly_usd: f64,
    pub hybrid_deployments: u32,
    pub hybrid_overflow_fraction: f64,
}

/// Everything the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct RuleContext<'a> {
    pub data: &'a DataPolicy,
    pub latency: &'a [LatencyCheck],
    pub costs: Costs,
    pub peak_to_average: f64,
    /// The measured hardware, when a bench result says.
    pub hardware: Option<&'a str>,
}

/// Why the data may not go to the API: `restricted` data and `on-prem-only` always; `confidential`
/// data, `hipaa`, `gdpr` and `data-residency` unless the provider is approved (`--api-compliant`).
pub fn api_blockers(data: &DataPolicy) -> Vec<String> {
    let mut blockers = Vec::new();
    let unapproved = "without an approved API provider (--api-compliant)";
    match data.sensitivity {
        DataSensitivity::Restricted => blockers.push("restricted data may not leave our own hardware".to_string()),
        DataSensitivity::Confidential if !data.api_compliant => blockers.push(format!("confidential data {unapproved}")),
        _ => {}
    }
    for &c in &data.compliance {
        match c {
            Compliance::OnPremOnly => blockers.push("on-prem-only: no third party may process the data".to_string()),
            Compliance::Hipaa | Compliance::Gdpr | Compliance::DataResidency if !data.api_compliant => {
                blockers.push(format!("{} {unapproved}", c.name()))
            }
            _ => {}
        }
    }
    blockers
}

/// Rule 1: any [`api_blockers`] → self-host, naming each constraint; a latency miss adds that the fleet
/// needs more replicas (less load each) or faster hardware.
pub fn compliance_rule(ctx: &RuleContext) -> Option<Recommendation> {
    let blockers = api_blockers(ctx.data);
    if blockers.is_empty() {
        return None;
    }
    let mut reasons: Vec<String> = blockers.into_iter().map(|b| format!("compliance: {b}")).collect();
    for miss in ctx.latency.iter().filter(|c| !c.met) {
        reasons.push(format!(
            "the measured {miss}: self-hosting still, but it needs more replicas (less load each) or faster hardware; re-run the bench to confirm"
        ));
    }
    Some(Recommendation { choice: Choice::SelfHost, rule: RuleId::Compliance, reasons })
}

/// Rule 2: a measured latency above its target → not self-host as measured: hybrid when self-hosting is
/// cheaper than the API (self-host the latency-tolerant traffic), else API.
pub fn latency_rule(ctx: &RuleContext) -> Option<Recommendation> {
    let misses: Vec<&LatencyCheck> = ctx.latency.iter().filter(|c| !c.met).collect();
    if misses.is_empty() {
        return None;
    }
    let on = ctx.hardware.map(|h| format!(" on {h}")).unwrap_or_default();
    let mut reasons: Vec<String> = misses.iter().map(|m| format!("latency: the measured {m}{on}")).collect();
    let (s, a) = (ctx.costs.self_host_monthly_usd, ctx.costs.api_monthly_usd);
    let choice = if s < a {
        reasons.push(format!(
            "self-hosting would be cheaper ({}/month vs {} on the API): self-host the latency-tolerant traffic (batch, offline) and send latency-sensitive requests to the API",
            usd(s),
            usd(a)
        ));
        Choice::Hybrid
    } else {
        reasons.push(format!("the API is also no dearer ({}/month vs {} self-hosted)", usd(a), usd(s)));
        Choice::Api
    };
    reasons.push("to self-host it all, re-run the bench on faster hardware or at a lower load per replica".to_string());
    Some(Recommendation { choice, rule: RuleId::Latency, reasons })
}

/// Rule 3: peak-to-average ≥ [`SPIKY_PEAK_TO_AVERAGE`] and the hybrid plan costs less than both the
/// peak-sized fleet and the API → hybrid.
pub fn spiky_traffic_rule(ctx: &RuleContext) -> Option<Recommendation> {
    let c = ctx.costs;
    let cheapest = c.hybrid_monthly_usd < c.self_host_monthly_usd && c.hybrid_monthly_usd < c.api_monthly_usd;
    if ctx.peak_to_average < SPIKY_PEAK_TO_AVERAGE || !cheapest {
        return None;
    }
    let reasons = vec![
        format!(
            "spiky traffic: the peak is {:.2}× the average (>= {SPIKY_PEAK_TO_AVERAGE}), so a fleet sized for the peak ({} deployments, {}/month) idles most of the day",
            ctx.peak_to_average,
            c.self_host_deployments,
            usd(c.self_host_monthly_usd)
        ),
        format!(
            "{} deployment(s) for the base load plus the API for the overflow ({:.1} % of requests) cost {}/month, less than self-hosting ({}) or the API ({})",
            c.hybrid_deployments,
            100.0 * c.hybrid_overflow_fraction,
            usd(c.hybrid_monthly_usd),
            usd(c.self_host_monthly_usd),
            usd(c.api_monthly_usd)
        ),
    ];
    Some(Recommendation { choice: Choice::Hybrid, rule: RuleId::SpikyTraffic, reasons })
}

/// Rule 4: self-hosting cheaper than the API by more than [`COST_MARGIN`] of the API's cost → self-host;
/// the API cheaper by more than the margin of the self-hosted cost → API; otherwise hybrid.
pub fn cost_margin_rule(costs: Costs) -> Recommendation {
    let (s, a) = (costs.self_host_monthly_usd, costs.api_monthly_usd);
    let margin = 100.0 * COST_MARGIN;
    let (choice, reason) = if s < a && (a - s) / a > COST_MARGIN {
        let pct = 100.0 * (a - s) / a;
        (Choice::SelfHost, format!("cost: self-hosting costs {}/month vs {} on the API, {pct:.1} % less (margin {margin:.0} %)", usd(s), usd(a)))
    } else if a < s && (s - a) / s > COST_MARGIN {
        let pct = 100.0 * (s - a) / s;
        (Choice::Api, format!("cost: the API costs {}/month vs {} self-hosted, {pct:.1} % less (margin {margin:.0} %)", usd(a), usd(s)))
    } else {
        (
            Choice::Hybrid,
            format!(
                "cost: self-hosting ({}/month) and the API ({}) are within {margin:.0} % of each other: neither wins clearly; self-host the steady base load ({} deployment(s), {} with the API for the rest) and grow either side as the volume shows",
                usd(s),
                usd(a),
                costs.hybrid_deployments,
                usd(costs.hybrid_monthly_usd)
            ),
        )
    };
    Recommendation { choice, rule: RuleId::CostMargin, reasons: vec![reason] }
}

/// The rules in order; the first that matches decides.
pub fn recommend(ctx: &RuleContext) -> Recommendation {
    compliance_rule(ctx)
        .or_else(|| latency_rule(ctx))
        .or_else(|| spiky_traffic_rule(ctx))
        .unwrap_or_else(|| cost_margin_rule(ctx.costs))
}

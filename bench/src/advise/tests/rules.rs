//! Each recommendation rule firing and not firing at its boundary, the rule order, and the warnings.

use super::super::inputs::{AdviseInputs, Compliance, DataSensitivity, LatencyStat, LatencyTargets};
use super::super::report::advise;
use super::super::rules::{cost_margin_rule, Choice, Costs, RuleId};
use super::{base_inputs, bench_inputs, bench_result};
use crate::result::RequestRate;

fn decide(inputs: &AdviseInputs) -> (Choice, RuleId) {
    let r = advise(inputs).recommendation;
    (r.choice, r.rule)
}

/// The base case with the API ten times cheaper ($2,102.40/month vs $18,250 self-hosted).
fn cheap_api() -> AdviseInputs {
    let mut inputs = base_inputs();
    inputs.api.input_usd_per_million = 0.1;
    inputs.api.output_usd_per_million = 0.4;
    inputs
}

fn costs(self_host: f64, api: f64) -> Costs {
    Costs {
        self_host_monthly_usd: self_host,
        self_host_deployments: 1,
        api_monthly_usd: api,
        hybrid_monthly_usd: self_host.min(api),
        hybrid_deployments: 1,
        hybrid_overflow_fraction: 0.0,
    }
}

#[test]
fn compliance_beats_cost() {
    let mut inputs = cheap_api();
    assert_eq!(decide(&inputs), (Choice::Api, RuleId::CostMargin));
    inputs.data.sensitivity = DataSensitivity::Restricted;
    let r = advise(&inputs).recommendation;
    assert_eq!((r.choice, r.rule), (Choice::SelfHost, RuleId::Compliance));
    assert!(r.reasons[0].contains("restricted data"), "{:?}", r.reasons);
    // An approved provider does not make restricted data or on-prem-only movable.
    inputs.data.api_compliant = true;
    assert_eq!(decide(&inputs), (Choice::SelfHost, RuleId::Compliance));
    inputs.data.sensitivity = DataSensitivity::Internal;
    inputs.data.compliance = vec![Compliance::OnPremOnly];
    let r = advise(&inputs).recommendation;
    assert_eq!((r.choice, r.rule), (Choice::SelfHost, RuleId::Compliance));
    assert!(r.reasons[0].contains("on-prem-only"), "{:?}", r.reasons);
}

#[test]
fn regulated_data_needs_an_approved_api_else_self_host() {
    for need in [Compliance::Hipaa, Compliance::Gdpr, Compliance::DataResidency] {
        let mut inputs = cheap_api();
        inputs.data.compliance = vec![need];
        let r = advise(&inputs).recommendation;
        assert_eq!((r.choice, r.rule), (Choice::SelfHost, RuleId::Compliance), "{need:?}");
        assert!(r.reasons[0].contains(need.name()) && r.reasons[0].contains("--api-compliant"), "{:?}", r.reasons);
        inputs.data.api_compliant = true;
        assert_eq!(decide(&inputs), (Choice::Api, RuleId::CostMargin), "{need:?} with an approved API");
    }
    let mut inputs = cheap_api();
    inputs.data.sensitivity = DataSensitivity::Confidential;
    assert_eq!(decide(&inputs), (Choice::SelfHost, RuleId::Compliance));
    inputs.data.api_compliant = true;
    assert_eq!(decide(&inputs), (Choice::Api, RuleId::CostMargin));
    for free in [DataSensitivity::Public, DataSensitivity::Internal] {
        let mut inputs = cheap_api();
        inputs.data.sensitivity = free;
        inputs.data.compliance = vec![Compliance::None];
        assert_eq!(decide(&inputs), (Choice::Api, RuleId::CostMargin), "{free:?}");
    }
}

#[test]
fn compliance_with_a_latency_miss_still_self_hosts_and_says_what_is_needed() {
    let mut inputs = bench_inputs(&bench_result());
    inputs.data.sensitivity = DataSensitivity::Restricted;
    inputs.latency_targets.ttft_ms = Some(500.0);
    let r = advise(&inputs).recommendation;
    assert_eq!((r.choice, r.rule), (Choice::SelfHost, RuleId::Compliance));
    assert!(
        r.reasons.iter().any(|s| s.contains("p99 TTFT 800.0 ms > target 500.0 ms") && s.contains("more replicas")),
        "{:?}",
        r.reasons
    );
}

#[test]
fn latency_miss_means_hybrid_when_self_hosting_is_cheaper_else_api() {
    let mut inputs = bench_inputs(&bench_result());
    inputs.latency_targets.ttft_ms = Some(500.0);
    let a = advise(&inputs);
    assert_eq!((a.recommendation.choice, a.recommendation.rule), (Choice::Hybrid, RuleId::Latency));
    assert!(a.recommendation.reasons[0].contains("p99 TTFT 800.0 ms > target 500.0 ms on 1x H100"), "{:?}", a.recommendation.reasons);
    assert_eq!(a.latency.len(), 1);
    assert!(!a.latency[0].met);

    inputs.api.input_usd_per_million = 0.1;
    inputs.api.output_usd_per_million = 0.4;
    assert_eq!(decide(&inputs), (Choice::Api, RuleId::Latency));
}

#[test]
fn latency_exactly_at_target_is_met() {
    let mut inputs = bench_inputs(&bench_result());
    inputs.latency_targets = LatencyTargets { ttft_ms: Some(800.0), tpot_ms: Some(40.0) };
    let a = advise(&inputs);
    assert_eq!(a.recommendation.rule, RuleId::CostMargin);
    assert!(a.latency.iter().all(|c| c.met && c.stat == LatencyStat::P99), "{:?}", a.latency);
    inputs.latency_targets.tpot_ms = Some(39.9);
    assert_eq!(decide(&inputs).1, RuleId::Latency);
}

#[test]
fn latency_falls_back_to_the_median_and_says_so() {
    let mut result = bench_result();
    result.latency_ms.remove("p99_ttft_ms");
    let mut inputs = bench_inputs(&result);
    inputs.latency_targets.ttft_ms = Some(260.0);
    let a = advise(&inputs);
    assert_eq!(a.latency[0].stat, LatencyStat::Median);
    assert_eq!(a.latency[0].measured_ms, 250.0);
    assert!(a.latency[0].met);
    assert!(a.warnings.iter().any(|w| w.contains("TTFT checked against the median")), "{:?}", a.warnings);

    result.latency_ms.remove("median_ttft_ms");
    let mut inputs = bench_inputs(&result);
    inputs.latency_targets.ttft_ms = Some(260.0);
    let a = advise(&inputs);
    assert!(a.latency.is_empty());
    assert!(a.warnings.iter().any(|w| w.contains("TTFT target not checked")), "{:?}", a.warnings);
}

#[test]
fn latency_cannot_be_checked_from_a_throughput_figure() {
    let mut inputs = base_inputs();
    inputs.latency_targets.ttft_ms = Some(1.0);
    let a = advise(&inputs);
    assert!(a.latency.is_empty());
    assert_eq!(a.recommendation.rule, RuleId::CostMargin);
    assert!(a.warnings.iter().any(|w| w.contains("latency targets not checked")), "{:?}", a.warnings);
}

#[test]
fn cost_margin_boundary_is_strict_on_both_sides() {
    assert_eq!(cost_margin_rule(costs(800.0, 1000.0)).choice, Choice::Hybrid, "exactly 20 % cheaper is within the margin");
    assert_eq!(cost_margin_rule(costs(799.0, 1000.0)).choice, Choice::SelfHost);
    assert_eq!(cost_margin_rule(costs(1000.0, 800.0)).choice, Choice::Hybrid);
    assert_eq!(cost_margin_rule(costs(1000.0, 799.0)).choice, Choice::Api);
    assert_eq!(cost_margin_rule(costs(1000.0, 1000.0)).choice, Choice::Hybrid);
    assert_eq!(cost_margin_rule(costs(1000.0, 0.0)).choice, Choice::Api, "a free API");
}

#[test]
fn cost_margin_end_to_end() {
    // Self-hosted = 7,300 GPU-h × price; API = $21,024.
    let with_price = |price: f64| {
        let mut inputs = base_inputs();
        inputs.gpu.usd_per_gpu_hour = price;
        decide(&inputs)
    };
    assert_eq!(with_price(0.79 * 21_024.0 / 7300.0), (Choice::SelfHost, RuleId::CostMargin));
    assert_eq!(with_price(0.81 * 21_024.0 / 7300.0), (Choice::Hybrid, RuleId::CostMargin));
    assert_eq!(with_price(21_024.0 / 0.81 / 7300.0), (Choice::Hybrid, RuleId::CostMargin));
    assert_eq!(with_price(21_024.0 / 0.79 / 7300.0), (Choice::Api, RuleId::CostMargin));
    // The base case: $18,250 vs $21,024, 13.2 % apart → hybrid.
    let r = advise(&base_inputs()).recommendation;
    assert_eq!((r.choice, r.rule), (Choice::Hybrid, RuleId::CostMargin));
    assert!(r.reasons[0].contains("within 20 %"), "{:?}", r.reasons);
}

#[test]
fn spiky_traffic_goes_hybrid_from_peak_to_average_3() {
    let mut inputs = base_inputs();
    inputs.workload.peak_to_average = 3.0;
    // 8 deployments for the 30 req/s peak: $29,200; hybrid: 3 deployments + ((3 − 1.2) / 3)² = 36 % of
    // $21,024 on the API = $18,518.64.
    let a = advise(&inputs);
    assert_eq!(a.self_host.deployments, 8);
    assert!((a.hybrid.monthly_usd - 18_518.64).abs() < 1e-6, "{}", a.hybrid.monthly_usd);
    assert_eq!((a.recommendation.choice, a.recommendation.rule), (Choice::Hybrid, RuleId::SpikyTraffic));
    assert!(a.recommendation.reasons[1].contains("36.0 % of requests"), "{:?}", a.recommendation.reasons);

    inputs.workload.peak_to_average = 2.99;
    assert_eq!(decide(&inputs), (Choice::Api, RuleId::CostMargin), "below the threshold the cost rule decides");
}

#[test]
fn spiky_traffic_needs_the_hybrid_plan_to_be_cheapest() {
    // 10,000 req/day: one deployment covers the peak, so the hybrid plan is the same fleet (no overflow)
    // and not cheaper than self-hosting.
    let mut inputs = base_inputs();
    inputs.workload.peak_to_average = 4.0;
    inputs.workload.daily_requests = 10_000.0;
    let a = advise(&inputs);
    assert_eq!(a.hybrid.overflow_fraction, 0.0);
    assert_eq!((a.recommendation.choice, a.recommendation.rule), (Choice::Api, RuleId::CostMargin));
}

#[test]
fn bench_warnings_for_failures_and_an_unsaturated_run() {
    let mut result = bench_result();
    result.failed = 3;
    result.request_rate = RequestRate::PerSecond(5.2);
    let a = advise(&bench_inputs(&result));
    assert!(a.warnings.iter().any(|w| w.contains("3 request(s) failed")), "{:?}", a.warnings);
    assert!(a.warnings.iter().any(|w| w.contains("offered 5.2 req/s and completed 5.00 req/s")), "{:?}", a.warnings);
    // 5 req/s completed of 6 offered (< 90 %): the server was saturated.
    result.failed = 0;
    result.request_rate = RequestRate::PerSecond(6.0);
    assert!(advise(&bench_inputs(&result)).warnings.is_empty());
}

#[test]
fn latency_from_an_all_at_once_bench_is_flagged_pessimistic() {
    let mut result = bench_result();
    let mut inputs = bench_inputs(&result);
    assert!(advise(&inputs).warnings.is_empty(), "no target, no latency warning");
    inputs.latency_targets.ttft_ms = Some(900.0);
    assert!(advise(&inputs).warnings.iter().any(|w| w.contains("latency check is pessimistic")));
    result.request_rate = RequestRate::PerSecond(6.0);
    let mut inputs = bench_inputs(&result);
    inputs.latency_targets.ttft_ms = Some(900.0);
    assert!(advise(&inputs).warnings.is_empty(), "{:?}", advise(&inputs).warnings);
}

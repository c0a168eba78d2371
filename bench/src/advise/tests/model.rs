//! The formulas against hand-computed numbers (see the base case in `tests/mod.rs`).

use super::super::inputs::{Measurement, Mix};
use super::super::model::{
    break_even, capacity_requests_per_s, overflow_fraction, replicas_needed, token_equivalents, BreakEven,
    DAYS_PER_MONTH, HOURS_PER_MONTH,
};
use super::super::report::{advise, mix_ratio_beyond_limit};
use super::{assert_close, base_inputs, bench_inputs, bench_result};

#[test]
fn month_is_730_hours_and_365_over_12_days() {
    assert_close(HOURS_PER_MONTH, 730.0);
    assert_close(DAYS_PER_MONTH * 24.0, HOURS_PER_MONTH);
}

#[test]
fn capacity_fleet_and_costs_of_the_base_case() {
    let a = advise(&base_inputs());
    assert_close(a.capacity.token_equivalents_per_s, 1000.0);
    assert_close(a.capacity.requests_per_s, 5.0);
    assert_close(a.capacity.output_tokens_per_s, 500.0);
    assert_close(a.capacity.planned_requests_per_s, 4.0);
    assert_close(a.demand.average_requests_per_s, 10.0);
    assert_close(a.demand.peak_requests_per_s, 20.0);
    assert_close(a.demand.monthly_requests, 26_280_000.0);
    assert_close(a.demand.monthly_input_tokens, 10_512_000_000.0);
    assert_close(a.demand.monthly_output_tokens, 2_628_000_000.0);
    assert_eq!(a.self_host.deployments, 5);
    assert_close(a.self_host.gpu_hours_per_month, 7300.0);
    assert_close(a.self_host.monthly_usd, 18_250.0);
    // 18,250 USD over 13,140 M tokens.
    assert_close(a.self_host.usd_per_million_tokens, 18_250.0 / 13_140.0);
    // $5/h over 5 req/s × 3600 s × 500 tokens = 9 M tokens/h.
    assert_close(a.self_host.usd_per_million_tokens_full_use, 5.0 / 9.0);
    assert_close(a.self_host.utilization_at_peak, 0.8);
    assert_close(a.self_host.utilization_at_average, 0.4);
    assert_close(a.api.usd_per_request, 0.0008);
    assert_close(a.api.monthly_usd, 21_024.0);
    // (400 × $1 + 100 × $4) / 500 tokens = $1.6 per 1M.
    assert_close(a.api.usd_per_million_tokens, 1.6);
}

#[test]
fn hybrid_fleet_for_the_average_and_api_overflow() {
    let a = advise(&base_inputs());
    // ceil(10 / 4) = 3 deployments take 12 req/s = 1.2 × average; p = 2: ((2 − 1.2) / 2)² = 0.16.
    assert_eq!(a.hybrid.deployments, 3);
    assert_close(a.hybrid.overflow_fraction, 0.16);
    assert_close(a.hybrid.self_host_monthly_usd, 10_950.0);
    assert_close(a.hybrid.api_monthly_usd, 0.16 * 21_024.0);
    assert_close(a.hybrid.monthly_usd, 10_950.0 + 3_363.84);
}

#[test]
fn replicas_round_up_under_the_utilization_target() {
    assert_eq!(replicas_needed(20.0, 5.0, 0.8), 5);
    assert_eq!(replicas_needed(20.001, 5.0, 0.8), 6);
    assert_eq!(replicas_needed(20.0, 5.0, 1.0), 4);
    assert_eq!(replicas_needed(20.0, 5.0, 0.5), 8);
    assert_eq!(replicas_needed(0.001, 5.0, 0.7), 1, "at least one deployment");
    let mut inputs = base_inputs();
    inputs.utilization_target = 0.5;
    assert_eq!(advise(&inputs).self_host.deployments, 8);
}

#[test]
fn break_even_of_one_deployment_by_hand() {
    // D = 2 × 2.5 × 730 = 3,650; a = 0.0008; V* = 3650 / (0.0008 × 30.4167) = 150,000 req/day.
    // One deployment: 5 req/s × 0.8 × 86400 / 2 = 172,800 req/day.
    match advise(&base_inputs()).break_even {
        BreakEven::At { daily_requests, one_deployment_max_daily_requests } => {
            assert_close(daily_requests, 150_000.0);
            assert_close(one_deployment_max_daily_requests, 172_800.0);
        }
        other => panic!("expected a break-even volume, got {other:?}"),
    }
}

#[test]
fn break_even_volume_plugged_back_makes_both_monthly_costs_equal() {
    let mut inputs = base_inputs();
    inputs.api.output_usd_per_million = 3.7; // not a round number
    let BreakEven::At { daily_requests, .. } = advise(&inputs).break_even else { panic!("expected a volume") };
    inputs.workload.daily_requests = daily_requests;
    let a = advise(&inputs);
    assert_eq!(a.self_host.deployments, 1);
    let rel = (a.api.monthly_usd - a.self_host.monthly_usd).abs() / a.self_host.monthly_usd;
    assert!(rel < 1e-6, "API {} vs self-host {}", a.api.monthly_usd, a.self_host.monthly_usd);
}

#[test]
fn break_even_never_when_the_api_is_cheaper_at_full_deployment() {
    let mut inputs = base_inputs();
    inputs.api.input_usd_per_million = 0.1;
    inputs.api.output_usd_per_million = 0.4;
    // a = 0.00008; 0.00008 × 172,800 × 30.4167 = 420.48 < 3,650.
    match advise(&inputs).break_even {
        BreakEven::Never { api_monthly_usd_at_one_deployment_max, deployment_monthly_usd, .. } => {
            assert_close(api_monthly_usd_at_one_deployment_max, 420.48);
            assert_close(deployment_monthly_usd, 3650.0);
        }
        other => panic!("expected never, got {other:?}"),
    }
    // A free API never breaks even either.
    assert!(matches!(break_even(3650.0, 0.0, 172_800.0), BreakEven::Never { .. }));
}

#[test]
fn break_even_exactly_at_one_deployment_capacity_is_a_volume() {
    let (a, v1) = (0.0008, 172_800.0);
    let d = a * v1 * DAYS_PER_MONTH;
    match break_even(d, a, v1) {
        BreakEven::At { daily_requests, .. } => assert_close(daily_requests, v1),
        other => panic!("expected a volume, got {other:?}"),
    }
    assert!(matches!(break_even(d * 1.000001, a, v1), BreakEven::Never { .. }));
}

#[test]
fn token_equivalents_weigh_input_tokens() {
    let mix = Mix { input_tokens: 1000.0, output_tokens: 50.0 };
    assert_close(token_equivalents(mix, 0.25), 300.0);
    assert_close(token_equivalents(mix, 0.0), 50.0);
    assert_close(capacity_requests_per_s(1000.0, mix, 0.25), 1000.0 / 300.0);
}

#[test]
fn bench_capacity_at_its_own_mix_is_its_request_throughput() {
    let a = advise(&bench_inputs(&bench_result()));
    assert_close(a.capacity.token_equivalents_per_s, 1000.0);
    assert_close(a.capacity.requests_per_s, 5.0);
    let m = a.capacity.bench_mix.expect("bench mix");
    assert_close(m.input_tokens, 400.0);
    assert_close(m.output_tokens, 100.0);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    // With another weight, the same mix still gives the measured 5 req/s.
    let mut inputs = bench_inputs(&bench_result());
    inputs.input_token_weight = 0.6;
    assert_close(advise(&inputs).capacity.requests_per_s, 5.0);
}

#[test]
fn bench_capacity_scales_to_the_users_mix_and_warns_beyond_2x() {
    let mut inputs = bench_inputs(&bench_result());
    inputs.workload.mix = Mix { input_tokens: 1000.0, output_tokens: 50.0 };
    let a = advise(&inputs);
    // 1000 token-eq/s over 50 + 0.25 × 1000 = 300 token-eq per request.
    assert_close(a.capacity.requests_per_s, 1000.0 / 300.0);
    assert_eq!(a.warnings.len(), 1, "input 2.5× warned, output 0.5× (exactly) not: {:?}", a.warnings);
    assert!(a.warnings[0].contains("input tokens per request (1000) are 2.50× the bench's (400)"), "{}", a.warnings[0]);
    assert!(a.warnings[0].contains("llmserve bench serve --input-len 1000 --output-len 50"), "{}", a.warnings[0]);

    inputs.workload.mix = Mix { input_tokens: 800.0, output_tokens: 200.0 };
    assert!(advise(&inputs).warnings.is_empty(), "exactly 2× is not beyond the limit");
    inputs.workload.mix = Mix { input_tokens: 400.0, output_tokens: 49.0 };
    let w = advise(&inputs).warnings;
    assert!(w.len() == 1 && w[0].contains("output tokens per request (49)"), "{w:?}");
}

#[test]
fn mix_ratio_limit_both_directions() {
    assert_eq!(mix_ratio_beyond_limit(200.0, 100.0), None);
    assert_eq!(mix_ratio_beyond_limit(50.0, 100.0), None);
    assert_eq!(mix_ratio_beyond_limit(201.0, 100.0), Some(2.01));
    assert_eq!(mix_ratio_beyond_limit(49.0, 100.0), Some(0.49));
    assert_eq!(mix_ratio_beyond_limit(0.0, 0.0), None);
    assert_eq!(mix_ratio_beyond_limit(10.0, 0.0), Some(f64::INFINITY));
}

#[test]
fn throughput_figure_charges_input_by_the_same_weight() {
    let mut inputs = base_inputs();
    inputs.input_token_weight = 0.1;
    let a = advise(&inputs);
    // 1000 / (100 + 0.1 × 400) = 1000 / 140 req/s.
    assert_close(a.capacity.requests_per_s, 1000.0 / 140.0);
    assert!(a.capacity.bench_mix.is_none());
    assert!(
        a.assumptions.iter().any(|s| s.contains("input tokens' cost is estimated by the same weight (0.1")),
        "{:?}",
        a.assumptions
    );
    assert!(matches!(inputs.measurement, Measurement::OutputThroughput { .. }));
}

#[test]
fn overflow_fraction_closed_forms() {
    assert_close(overflow_fraction(4.0, 2.0), 0.25);
    assert_close(overflow_fraction(2.0, 1.2), 0.16);
    assert_close(overflow_fraction(3.0, 3.0), 0.0);
    assert_close(overflow_fraction(3.0, 5.0), 0.0);
    // p = 1.5: the curve runs 1.5 → 0.5; above k = 1 a triangle 0.5 × 0.5 / 2 = 0.125.
    assert_close(overflow_fraction(1.5, 1.0), 0.125);
    // Below the curve's lowest point (0.5) everything above k overflows: 1 − 0.25.
    assert_close(overflow_fraction(1.5, 0.25), 0.75);
    // Flat traffic.
    assert_close(overflow_fraction(1.0, 0.6), 0.4);
    assert_close(overflow_fraction(1.0, 1.0), 0.0);
}

/// The closed forms against a Riemann sum of the load-duration curve they describe.
#[test]
fn overflow_fraction_matches_numeric_integration() {
    fn curve(p: f64, s: f64) -> f64 {
        if p >= 2.0 {
            let f = 2.0 / p;
            if s < f {
                p * (1.0 - s / f)
            } else {
                0.0
            }
        } else {
            p - (2.0 * p - 2.0) * s
        }
    }
    let n = 200_000;
    for (p, k) in [(5.0, 1.7), (2.5, 1.0), (1.7, 1.1), (1.3, 0.5), (2.0, 0.4), (3.0, 2.9)] {
        let mean: f64 = (0..n).map(|i| curve(p, (i as f64 + 0.5) / n as f64)).sum::<f64>() / n as f64;
        let above: f64 = (0..n).map(|i| (curve(p, (i as f64 + 0.5) / n as f64) - k).max(0.0)).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 1e-4, "p {p}: mean {mean}");
        let closed = overflow_fraction(p, k);
        assert!((above - closed).abs() < 1e-4, "p {p} k {k}: numeric {above} vs closed {closed}");
    }
}

//! The metric math on hand-computed timelines (the expected numbers are worked out in the comments).

use super::*;

fn ok(prompt: u64, out: u64, ttft: f64, itl: &[f64], latency: f64) -> RequestTimeline {
    RequestTimeline {
        success: true,
        prompt_len: prompt,
        output_tokens: Some(out),
        ttft,
        itl: itl.to_vec(),
        latency,
        ..Default::default()
    }
}

fn failed() -> RequestTimeline {
    RequestTimeline { success: false, error: "HTTP 500".into(), prompt_len: 40, ..Default::default() }
}

fn no_count(_: &str) -> u64 {
    panic!("every timeline has usage")
}

/// A: 5 tokens, TPOT (1.5 − 0.5) / 4 = 0.25 s. B: one token (no TPOT; 0 for goodput). C: failed.
/// D: 3 tokens, TPOT (2.0 − 1.0) / 2 = 0.5 s. Wall time 10 s.
fn timelines() -> Vec<RequestTimeline> {
    vec![
        ok(10, 5, 0.5, &[0.1, 0.2, 0.3, 0.4], 1.5),
        ok(20, 1, 0.8, &[], 0.8),
        failed(),
        ok(30, 3, 1.0, &[0.5, 0.5], 2.0),
    ]
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} != {b}");
}

#[test]
fn counts_and_throughputs() {
    let m = compute_metrics(&timelines(), 10.0, &[99.0], &GoodputSlo::default(), &no_count);
    assert_eq!((m.completed, m.failed), (3, 1));
    // The failed request's prompt is not counted; its output is 0.
    assert_eq!(m.total_input, 60);
    assert_eq!(m.total_output, 9);
    assert_eq!(m.output_lens, vec![5, 1, 0, 3]);
    close(m.request_throughput, 0.3);
    close(m.output_throughput, 0.9);
    close(m.total_token_throughput, 6.9);
    assert_eq!(m.request_goodput, None);
    assert_eq!(m.output_token_source, TokenCountSource::ServerUsage);
}

#[test]
fn ttft_statistics() {
    let m = compute_metrics(&timelines(), 10.0, &[99.0], &GoodputSlo::default(), &no_count);
    // TTFTs 0.5, 0.8, 1.0 s.
    close(m.latency_ms["mean_ttft_ms"], 2300.0 / 3.0);
    close(m.latency_ms["median_ttft_ms"], 800.0);
    // Deviations −0.2667, 0.0333, 0.2333: variance 0.12667 / 3.
    close(m.latency_ms["std_ttft_ms"], (0.38f64 / 9.0).sqrt() * 1000.0);
    // Rank 0.99 · 2 = 1.98: 0.8 + 0.98 · 0.2.
    close(m.latency_ms["p99_ttft_ms"], 996.0);
}

#[test]
fn tpot_excludes_one_token_requests() {
    let m = compute_metrics(&timelines(), 10.0, &[99.0], &GoodputSlo::default(), &no_count);
    // TPOTs 0.25 and 0.5 only (B has one token).
    close(m.latency_ms["mean_tpot_ms"], 375.0);
    close(m.latency_ms["median_tpot_ms"], 375.0);
    close(m.latency_ms["p99_tpot_ms"], 497.5);
}

#[test]
fn itl_pools_every_gap_and_e2el_is_per_request() {
    let m = compute_metrics(&timelines(), 10.0, &[50.0, 99.9], &GoodputSlo::default(), &no_count);
    // Gaps 0.1 0.2 0.3 0.4 0.5 0.5: mean 2.0 / 6; median rank 2.5 → 0.35.
    close(m.latency_ms["mean_itl_ms"], 2000.0 / 6.0);
    close(m.latency_ms["median_itl_ms"], 350.0);
    close(m.latency_ms["p50_itl_ms"], 350.0);
    // Rank 0.999 · 5 = 4.995: 0.5 + 0.995 · 0.
    close(m.latency_ms["p99.9_itl_ms"], 500.0);
    close(m.latency_ms["median_e2el_ms"], 1500.0);
    close(m.latency_ms["mean_e2el_ms"], 4300.0 / 3.0);
}

#[test]
fn goodput_thresholds() {
    let t = timelines();
    let run = |items: &[&str]| {
        let slo = GoodputSlo::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        compute_metrics(&t, 10.0, &[], &slo, &no_count).request_goodput.unwrap()
    };
    // A (0.5 s, 0.25 s) and B (0.8 s, TPOT 0) meet both; D's TTFT 1.0 s misses.
    close(run(&["ttft:900", "tpot:300"]), 0.2);
    // A threshold equal to the value counts as met (vLLM: slo >= value).
    close(run(&["ttft:1000", "tpot:500"]), 0.3);
    // TPOT 300 ms: D (0.5 s) misses; the one-token B passes with TPOT 0.
    close(run(&["tpot:300"]), 0.2);
    // E2EL 1 s: only B (0.8 s).
    close(run(&["e2el:1000"]), 0.1);
    // Nothing meets 1 ms; the failed request never counts.
    close(run(&["ttft:1"]), 0.0);
}

#[test]
fn goodput_parse_errors_name_the_problem() {
    let p = |s: &str| GoodputSlo::parse(&[s.to_string()]).unwrap_err();
    assert!(p("ttft").contains("KEY:MILLISECONDS"));
    assert!(p("ttft:-1").contains("non-negative"));
    assert!(p("ttft:abc").contains("`abc`"));
    assert!(p("latency:5").contains("unknown metric `latency`"));
    let twice = GoodputSlo::parse(&["ttft:1".into(), "ttft:2".into()]).unwrap_err();
    assert!(twice.contains("given twice"));
    let slo = GoodputSlo::parse(&["ttft:1.5".into(), "e2el:3000".into()]).unwrap();
    assert_eq!(slo.as_map().into_iter().collect::<Vec<_>>(), vec![("e2el".into(), 3000.0), ("ttft".into(), 1.5)]);
}

#[test]
fn missing_usage_falls_back_to_the_tokenizer_and_says_so() {
    let mut t = timelines();
    t[0].output_tokens = None;
    t[0].generated_text = "one two three four five six seven".into();
    let words = |s: &str| s.split_whitespace().count() as u64;
    let m = compute_metrics(&t, 10.0, &[], &GoodputSlo::default(), &words);
    assert_eq!(m.output_lens[0], 7);
    assert_eq!(m.output_token_source, TokenCountSource::Tokenizer);
    // TPOT of A is now (1.5 − 0.5) / 6.
    close(m.latency_ms["mean_tpot_ms"], (1000.0 / 6.0 + 500.0) / 2.0);
}

#[test]
fn all_failed_reports_zeros_not_nan() {
    let m = compute_metrics(&[failed(), failed()], 2.0, &[99.0], &GoodputSlo::default(), &no_count);
    assert_eq!((m.completed, m.failed, m.total_output), (0, 2, 0));
    assert!(m.latency_ms.values().all(|v| *v == 0.0), "{:?}", m.latency_ms);
    assert_eq!(m.request_throughput, 0.0);
}

#[test]
fn percentile_matches_numpy_linear() {
    // numpy.percentile([1, 2, 3, 4], [0, 25, 50, 90, 100]) = 1, 1.75, 2.5, 3.7, 4
    let v = [4.0, 1.0, 3.0, 2.0];
    for (p, want) in [(0.0, 1.0), (25.0, 1.75), (50.0, 2.5), (90.0, 3.7), (100.0, 4.0)] {
        close(percentile(&v, p), want);
    }
    close(percentile(&[7.0], 99.0), 7.0);
    close(std_dev(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 2.0);
}

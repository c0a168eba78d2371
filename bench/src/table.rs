//! The text vLLM's `vllm bench serve` prints after a run, with the same labels and order, so a
//! reader who knows vLLM's output reads ours at a glance; and the one-line-per-load table of a sweep.

use std::fmt::Write;

use crate::result::{format_percentile, BenchResult, LatencyMetric, Stat, SweepResult};

pub fn result_table(r: &BenchResult, percentiles: &[f64]) -> String {
    let mut s = String::new();
    let line = |s: &mut String, label: &str, value: String| writeln!(s, "{label:<40} {value:<10}").expect("string write");
    writeln!(s, "{:=^50}", " Serving Benchmark Result ").unwrap();
    line(&mut s, "Server:", r.label.clone());
    line(&mut s, "Successful requests:", r.completed.to_string());
    if r.failed > 0 {
        line(&mut s, "Failed requests:", r.failed.to_string());
    }
    if let Some(c) = r.max_concurrency {
        line(&mut s, "Maximum request concurrency:", c.to_string());
    }
    line(&mut s, "Request rate configured (RPS):", r.request_rate.to_string());
    line(&mut s, "Benchmark duration (s):", format!("{:.2}", r.duration));
    line(&mut s, "Total input tokens:", r.total_input_tokens.to_string());
    line(&mut s, "Total generated tokens:", r.total_output_tokens.to_string());
    line(&mut s, "Request throughput (req/s):", format!("{:.2}", r.request_throughput));
    if let Some(g) = r.request_goodput {
        line(&mut s, "Request goodput (req/s):", format!("{g:.2}"));
    }
    line(&mut s, "Output token throughput (tok/s):", format!("{:.2}", r.output_throughput));
    line(&mut s, "Total Token throughput (tok/s):", format!("{:.2}", r.total_token_throughput));
    for metric in LatencyMetric::ALL {
        let name = metric.key().to_uppercase();
        writeln!(s, "{:-^50}", metric.title()).unwrap();
        for (stat, label) in [(Stat::Mean, "Mean"), (Stat::Median, "Median")] {
            line(&mut s, &format!("{label} {name} (ms):"), fmt_ms(r.latency(metric, stat)));
        }
        for &p in percentiles {
            line(&mut s, &format!("P{} {name} (ms):", format_percentile(p)), fmt_ms(r.latency(metric, Stat::Percentile(p))));
        }
    }
    writeln!(s, "{}", "=".repeat(50)).unwrap();
    if r.failed > 0 {
        let first = r.errors.iter().find(|e| !e.is_empty()).cloned().unwrap_or_default();
        writeln!(s, "{} requests failed; the first error: {first}", r.failed).unwrap();
    }
    s
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

/// One line per load: throughputs and the median / highest requested percentile of each latency.
pub fn sweep_table(sweep: &SweepResult, percentiles: &[f64]) -> String {
    let top = percentiles.iter().copied().fold(f64::NAN, f64::max);
    let p = if top.is_nan() { Stat::Median } else { Stat::Percentile(top) };
    let pk = p.key();
    let mut s = String::new();
    writeln!(
        s,
        "{:>10} {:>5} {:>7} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "load", "fail", "req/s", "out tok/s", "TTFT p50", format!("TTFT {pk}"), "TPOT p50", format!("TPOT {pk}"), format!("ITL {pk}"), "E2EL p50"
    )
    .unwrap();
    for pt in &sweep.points {
        let r = &pt.result;
        let ms = |m, st| fmt_ms(r.latency(m, st));
        writeln!(
            s,
            "{:>10} {:>5} {:>7.2} {:>9.1} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            pt.load,
            r.failed,
            r.request_throughput,
            r.output_throughput,
            ms(LatencyMetric::Ttft, Stat::Median),
            ms(LatencyMetric::Ttft, p),
            ms(LatencyMetric::Tpot, Stat::Median),
            ms(LatencyMetric::Tpot, p),
            ms(LatencyMetric::Itl, p),
            ms(LatencyMetric::E2el, Stat::Median)
        )
        .unwrap();
    }
    writeln!(s, "(latencies in ms; load = {})", sweep.axis.label()).unwrap();
    s
}

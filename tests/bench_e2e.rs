//! End to end: the real `llmserve serve` on the default model, driven by `llmserve bench serve` and
//! `llmserve bench sweep` with a handful of requests; the result files are checked against what the
//! server itself counted (its /metrics) and against the metric definitions.

mod common;

use std::time::Instant;

use llmserve_models::default_model;
use common::{llmserve, start_server};
use serde_json::Value;

/// The sum of the samples named like `series` whose labels include the given ones (every series
/// also carries `model`).
fn metric(url: &str, series: &str) -> f64 {
    let text = reqwest::blocking::get(format!("{url}/metrics")).unwrap().text().unwrap();
    let (name, wanted) = series.split_once('{').map_or((series, ""), |(n, l)| (n, l.trim_end_matches('}')));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(sample, _)| {
            let (sample_name, labels) = sample.split_once('{').unwrap_or((sample, ""));
            sample_name == name && wanted.split(',').filter(|w| !w.is_empty()).all(|w| labels.split(',').any(|l| l.trim_end_matches('}') == w))
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

#[test]
fn bench_serve_and_sweep_against_the_real_server() {
    let Some(model) = default_model::for_tests() else { return };
    let server = start_server(&model, &[]);
    let dir = tempfile::tempdir().unwrap();
    let finished_before = metric(&server.url, r#"llmserve_requests_total{status="200"}"#);

    // 6 requests of the synthetic ShareGPT workload (output capped to keep it quick), Poisson at 4 req/s.
    let json = dir.path().join("serve.json");
    let t0 = Instant::now();
    let out = llmserve()
        .args(["bench", "serve", "--base-url", &server.url, "--dataset", "random", "--num-prompts", "6"])
        .args(["--input-len", "48", "--output-len", "12", "--range-ratio", "0.5", "--ignore-eos", "--request-rate", "4"])
        .args(["--goodput", "ttft:60000", "tpot:1", "--percentiles", "50,99", "--no-progress", "--tokenizer"])
        .arg(&model)
        .arg("--result-json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}\nstdout: {stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Serving Benchmark Result") && stdout.contains("Median TTFT (ms):"), "{stdout}");
    let wall = t0.elapsed().as_secs_f64();

    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["completed"], 6, "{r}");
    assert_eq!(r["failed"], 0);
    assert_eq!(r["dataset_name"], "random");
    assert_eq!(r["request_rate"], 4.0);
    assert_eq!(r["output_token_source"], "server_usage");
    let outs: Vec<u64> = r["output_lens"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let ins: Vec<u64> = r["input_lens"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    // --ignore-eos: every request generates exactly what it asked for, within the range ratio.
    assert!(outs.iter().all(|&n| (6..=18).contains(&n)), "{outs:?}");
    assert!(ins.iter().all(|&n| (24..=72).contains(&n)), "input lengths are the server's prompt_tokens: {ins:?}");
    assert_eq!(r["total_output_tokens"].as_u64().unwrap(), outs.iter().sum::<u64>());
    assert_eq!(r["total_input_tokens"].as_u64().unwrap(), ins.iter().sum::<u64>());
    let duration = r["duration"].as_f64().unwrap();
    assert!(duration > 0.0 && duration < wall, "duration {duration} vs process wall {wall}");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    assert!(close(r["request_throughput"].as_f64().unwrap(), 6.0 / duration));
    assert!(close(r["output_throughput"].as_f64().unwrap(), outs.iter().sum::<u64>() as f64 / duration));
    // Timelines: TTFT > 0, one ITL gap per content chunk after the first (our server streams one
    // token per chunk, so output − 1 gaps), and TPOT = (E2EL − TTFT) / (output − 1) on average.
    let ttfts: Vec<f64> = r["ttfts"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(ttfts.iter().all(|&t| t > 0.0));
    for (itl, &n) in r["itls"].as_array().unwrap().iter().zip(&outs) {
        let gaps = itl.as_array().unwrap().len() as u64;
        assert!(gaps >= 1 && gaps < n, "{gaps} gaps for {n} tokens");
    }
    for key in ["mean_ttft_ms", "median_tpot_ms", "p99_itl_ms", "p50_e2el_ms", "std_e2el_ms"] {
        assert!(r[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {r}");
    }
    assert!(r["mean_e2el_ms"].as_f64().unwrap() > r["mean_ttft_ms"].as_f64().unwrap());
    // Goodput: a 1-ms TPOT objective is met by nobody.
    assert_eq!(r["request_goodput"], 0.0);
    assert_eq!(r["goodput_slo_ms"]["tpot"], 1.0);
    // The server counted them too: 6 requests + the bench's test request.
    assert_eq!(metric(&server.url, r#"llmserve_requests_total{status="200"}"#) - finished_before, 7.0);

    // A sweep over two concurrency caps, with plots.
    let sweep_json = dir.path().join("sweep.json");
    let plots = dir.path().join("plots");
    let out = llmserve()
        .args(["bench", "sweep", "--base-url", &server.url, "--dataset", "synthetic-sharegpt", "--num-prompts", "4"])
        .args(["--concurrencies", "1,4", "--pause", "0", "--no-progress", "--label", "llmserve", "--tokenizer"])
        .arg(&model)
        .arg("--result-json")
        .arg(&sweep_json)
        .arg("--plot")
        .arg(&plots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}\nstdout: {stdout}", String::from_utf8_lossy(&out.stderr));
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&sweep_json).unwrap()).unwrap();
    assert_eq!(s["axis"], "max_concurrency");
    let points = s["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for (p, cap) in points.iter().zip([1, 4]) {
        assert_eq!(p["load"], cap as f64);
        assert_eq!(p["result"]["max_concurrency"], cap);
        assert_eq!(p["result"]["completed"], 4, "{}", p["result"]);
        assert_eq!(p["result"]["dataset_name"], "synthetic-sharegpt");
    }
    for name in ["ttft.png", "tpot.png", "itl.png", "e2el.png"] {
        let bytes = std::fs::read(plots.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 5_000, "{name} is a real PNG");
    }
}

#[test]
fn bench_serve_reports_a_dead_server_clearly() {
    let out = llmserve()
        .args(["bench", "serve", "--base-url", "http://127.0.0.1:9", "--num-prompts", "1", "--model", "m"])
        .args(["--tokenizer", "/nonexistent/tokenizer"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--tokenizer /nonexistent/tokenizer"), "{stderr}");

    let Some(model) = default_model::for_tests() else { return };
    let out = llmserve()
        .args(["bench", "serve", "--base-url", "http://127.0.0.1:9", "--num-prompts", "1", "--tokenizer"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("http://127.0.0.1:9/v1/models") && stderr.contains("is it running?"), "{stderr}");
}

#[test]
fn bench_offline_generates_every_requested_token() {
    let Some(model) = default_model::for_tests() else { return };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("offline.json");
    let out = llmserve()
        .args(["bench", "offline", "--dataset", "random", "--num-prompts", "5", "--input-len", "24", "--output-len", "6"])
        .args(["--threads", "2", "--model"])
        .arg(&model)
        .arg("--output-json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("Throughput: ") && stdout.contains("requests/s"), "{stdout}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["num_requests"], 5);
    // EOS is ignored: exactly 5 × 6 output tokens; the prompts are the workload's 24 tokens each (the
    // model adds no BOS), so 5 × 24 + 30 in total.
    assert_eq!(r["total_output_tokens"], 30, "{r}");
    let total = r["total_num_tokens"].as_u64().unwrap();
    assert_eq!(total, 150, "{r}");
    let elapsed = r["elapsed_time"].as_f64().unwrap();
    assert!((r["requests_per_second"].as_f64().unwrap() - 5.0 / elapsed).abs() < 1e-9);
    assert!((r["output_tokens_per_second"].as_f64().unwrap() - 30.0 / elapsed).abs() < 1e-9);
}

//! The flags: parsing, every validation error's message, the bench result file, text and JSON output.

use std::io::Write;

use clap::Parser;

use super::super::args::AdviseArgs;
use super::super::error::AdviseError;
use super::super::inputs::{Compliance, DataSensitivity, Measurement};
use super::super::model::{DEFAULT_INPUT_TOKEN_WEIGHT, DEFAULT_PEAK_TO_AVERAGE, DEFAULT_UTILIZATION_TARGET};
use super::super::run;
use super::bench_result;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: AdviseArgs,
}

const BASE: [&str; 13] = [
    "advise",
    "--throughput-tok-s",
    "1000",
    "--gpu-price-per-hour",
    "2.5",
    "--api-price-input",
    "1",
    "--api-price-output",
    "4",
    "--daily-requests",
    "864000",
    "--input-tokens",
    "400",
];

fn parse(extra: &[&str]) -> Result<AdviseArgs, clap::Error> {
    let argv: Vec<&str> = BASE.iter().copied().chain(["--output-tokens", "100"]).chain(extra.iter().copied()).collect();
    Cli::try_parse_from(argv).map(|c| c.args)
}

fn base_args() -> AdviseArgs {
    parse(&["--gpus", "2", "--utilization-target", "0.8"]).expect("base flags parse")
}

fn error_of(args: &AdviseArgs) -> String {
    match run(args) {
        Ok(out) => panic!("expected an error, got output:\n{out}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn flags_parse_with_their_defaults() {
    let a = parse(&[]).expect("parses");
    assert_eq!(a.gpus, 1);
    assert_eq!(a.peak_to_average, DEFAULT_PEAK_TO_AVERAGE);
    assert_eq!(a.utilization_target, DEFAULT_UTILIZATION_TARGET);
    assert_eq!(a.input_token_weight, DEFAULT_INPUT_TOKEN_WEIGHT);
    assert_eq!(a.data_sensitivity, DataSensitivity::Internal);
    assert!(a.compliance.is_empty() && !a.api_compliant && !a.json);
    assert_eq!((a.latency_target_ttft_ms, a.latency_target_tpot_ms), (None, None));

    let a = parse(&["--compliance", "hipaa,data-residency", "--compliance", "on-prem-only", "--data-sensitivity", "restricted"])
        .expect("parses");
    assert_eq!(a.compliance, vec![Compliance::Hipaa, Compliance::DataResidency, Compliance::OnPremOnly]);
    assert_eq!(a.data_sensitivity, DataSensitivity::Restricted);
    assert!(parse(&["--compliance", "sox"]).is_err(), "unknown compliance value");
    // A negative value reaches our validation (and its message) instead of clap's "unexpected argument".
    assert_eq!(parse(&["--latency-target-ttft-ms", "-1"]).expect("parses").latency_target_ttft_ms, Some(-1.0));
}

#[test]
fn exactly_one_throughput_source() {
    let mut a = base_args();
    a.throughput_tok_s = None;
    assert_eq!(
        error_of(&a),
        "give one of --bench-result FILE (a `llmserve bench serve` result) or --throughput-tok-s N (output tokens/s of one deployment); got neither"
    );
    let mut a = base_args();
    a.bench_result = Some("run.json".into());
    assert_eq!(error_of(&a), "give only one of --bench-result FILE or --throughput-tok-s N; got both");
}

#[test]
fn every_out_of_range_flag_is_named_with_its_range() {
    type Edit = fn(&mut AdviseArgs);
    let cases: [(Edit, &str); 20] = [
        (|a| a.throughput_tok_s = Some(0.0), "--throughput-tok-s must be a number > 0 (output tokens/s of one deployment), got 0"),
        (|a| a.throughput_tok_s = Some(f64::NAN), "--throughput-tok-s must be a number > 0 (output tokens/s of one deployment), got NaN"),
        (|a| a.gpu_price_per_hour = -1.0, "--gpu-price-per-hour must be a number > 0 (USD per GPU-hour; for owned hardware, its amortised cost plus power), got -1"),
        (|a| a.gpu_price_per_hour = 0.0, "--gpu-price-per-hour must be a number > 0 (USD per GPU-hour; for owned hardware, its amortised cost plus power), got 0"),
        (|a| a.gpus = 0, "--gpus must be an integer >= 1 (GPUs per deployment), got 0"),
        (|a| a.api_price_input = -0.5, "--api-price-input must be a number >= 0 (USD per 1M input tokens), got -0.5"),
        (|a| a.api_price_output = -2.0, "--api-price-output must be a number >= 0 (USD per 1M output tokens), got -2"),
        (|a| a.daily_requests = 0.0, "--daily-requests must be a number > 0 (requests per day), got 0"),
        (|a| a.daily_requests = f64::INFINITY, "--daily-requests must be a number > 0 (requests per day), got inf"),
        (|a| a.input_tokens = -1.0, "--input-tokens must be a number >= 0 (mean input tokens per request), got -1"),
        (|a| a.output_tokens = 0.5, "--output-tokens must be a number >= 1 (mean output tokens per request), got 0.5"),
        (|a| a.peak_to_average = 0.9, "--peak-to-average must be a number >= 1 (peak request rate / average), got 0.9"),
        (|a| a.latency_target_ttft_ms = Some(0.0), "--latency-target-ttft-ms must be a number > 0 (ms), got 0"),
        (|a| a.latency_target_tpot_ms = Some(-5.0), "--latency-target-tpot-ms must be a number > 0 (ms), got -5"),
        (|a| a.utilization_target = 0.0, "--utilization-target must be in (0, 1] (fraction of capacity used at the peak), got 0"),
        (|a| a.utilization_target = 1.01, "--utilization-target must be in (0, 1] (fraction of capacity used at the peak), got 1.01"),
        (|a| a.input_token_weight = -0.1, "--input-token-weight must be in [0, 1] (cost of an input token in output tokens), got -0.1"),
        (|a| a.input_token_weight = 1.5, "--input-token-weight must be in [0, 1] (cost of an input token in output tokens), got 1.5"),
        (|a| a.compliance = vec![Compliance::None, Compliance::Gdpr], "--compliance none cannot be combined with other compliance needs (got none,gdpr)"),
        (|a| a.compliance = vec![Compliance::Hipaa, Compliance::None], "--compliance none cannot be combined with other compliance needs (got hipaa,none)"),
    ];
    for (edit, message) in cases {
        let mut a = base_args();
        edit(&mut a);
        assert_eq!(error_of(&a), message);
    }
    // The edges that are allowed.
    for edit in [
        (|a: &mut AdviseArgs| a.utilization_target = 1.0) as fn(&mut AdviseArgs),
        |a| a.input_token_weight = 0.0,
        |a| a.input_token_weight = 1.0,
        |a| a.peak_to_average = 1.0,
        |a| a.api_price_input = 0.0,
        |a| a.input_tokens = 0.0,
        |a| a.output_tokens = 1.0,
        |a| a.compliance = vec![Compliance::None],
    ] {
        let mut a = base_args();
        edit(&mut a);
        run(&a).expect("an allowed edge value");
    }
}

fn write_json(value: &impl serde::Serialize) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(serde_json::to_string(value).expect("serialise").as_bytes()).expect("write");
    file
}

fn with_bench(path: &std::path::Path) -> AdviseArgs {
    AdviseArgs { throughput_tok_s: None, bench_result: Some(path.to_path_buf()), ..base_args() }
}

#[test]
fn reads_a_bench_result_file() {
    let file = write_json(&bench_result());
    let args = with_bench(file.path());
    let inputs = args.to_inputs().expect("valid");
    let Measurement::Bench(b) = &inputs.measurement else { panic!("expected a bench measurement") };
    assert_eq!((b.completed, b.total_input_tokens, b.total_output_tokens), (500, 200_000, 50_000));
    assert_eq!(b.duration_s, 100.0);
    assert_eq!(b.ttft.map(|l| l.ms), Some(800.0));
    assert_eq!(b.tpot.map(|l| l.ms), Some(40.0));

    let text = run(&args).expect("advice");
    assert!(text.contains(&format!("bench result {} (llmserve on 1x H100)", file.path().display())), "{text}");
    assert!(text.contains("5.00 req/s"), "{text}");
}

#[test]
fn json_output_is_the_advice() {
    let file = write_json(&bench_result());
    let args = AdviseArgs { json: true, latency_target_ttft_ms: Some(500.0), ..with_bench(file.path()) };
    let out = run(&args).expect("advice");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["recommendation"]["choice"], "hybrid");
    assert_eq!(v["recommendation"]["rule"], "latency");
    assert_eq!(v["self_host"]["deployments"], 5);
    assert_eq!(v["api"]["monthly_usd"].as_f64().map(|x| (x - 21_024.0).abs() < 1e-6), Some(true));
    assert_eq!(v["break_even"]["kind"], "at");
    assert_eq!(v["latency"][0]["stat"], "p99");
    assert!(v["assumptions"].as_array().is_some_and(|a| !a.is_empty()));
}

#[test]
fn bench_file_errors_name_the_file() {
    let missing = std::path::Path::new("/nonexistent/advise-run.json");
    let e = with_bench(missing).to_inputs().expect_err("missing file");
    assert!(matches!(e, AdviseError::BenchFile(_)));
    assert!(e.to_string().starts_with("reading /nonexistent/advise-run.json:"), "{e}");

    let not_json = write_json(&"just a string");
    let e = with_bench(not_json.path()).to_inputs().expect_err("not a bench result");
    assert!(e.to_string().contains("is not a bench result file"), "{e}");

    let mut empty = bench_result();
    empty.completed = 0;
    let file = write_json(&empty);
    let e = with_bench(file.path()).to_inputs().expect_err("nothing completed");
    assert_eq!(e.to_string(), format!("{} cannot give a capacity: no request completed", file.path().display()));

    let mut instant = bench_result();
    instant.duration = 0.0;
    let file = write_json(&instant);
    let e = with_bench(file.path()).to_inputs().expect_err("zero duration");
    assert!(e.to_string().ends_with("cannot give a capacity: duration must be > 0 s, got 0"), "{e}");

    let mut silent = bench_result();
    silent.total_output_tokens = 0;
    let file = write_json(&silent);
    let e = with_bench(file.path()).to_inputs().expect_err("no output");
    assert!(e.to_string().ends_with("cannot give a capacity: no output token was generated"), "{e}");
}

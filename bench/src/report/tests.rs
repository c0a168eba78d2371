//! Tests of the report: rendering from synthetic runs and anchors, the marker block in a real file,
//! and errors naming the file at fault.

use std::collections::BTreeMap;
use std::path::Path;

use super::inputs::{Inputs, Loaded};
use super::markers::{BEGIN, END};
use super::render::{render, sweep_groups, Context, Image};
use super::*;
use crate::result::{BenchResult, LatencyMetric, RequestRate, SweepAxis, SweepPoint, SweepResult, TokenCountSource};

/// A run with every latency statistic the report reads; lengths 235 in / 128 out.
pub(crate) fn sample_run(label: &str, class: &str, dataset: &str) -> BenchResult {
    let mut latency_ms = BTreeMap::new();
    for (i, metric) in LatencyMetric::ALL.into_iter().enumerate() {
        for (stat, factor) in [("mean", 1.0), ("median", 0.9), ("p90", 1.5), ("p99", 2.0)] {
            latency_ms.insert(format!("{stat}_{}_ms", metric.key()), 10.0 * (i + 1) as f64 * factor);
        }
    }
    BenchResult {
        date: "20261127-120501".into(),
        label: label.into(),
        backend: "openai".into(),
        base_url: "http://127.0.0.1:8000".into(),
        endpoint: "/v1/completions".into(),
        model_id: "test-model".into(),
        hardware: format!("test machine of class {class}"),
        hardware_class: class.into(),
        dataset_name: dataset.into(),
        num_prompts: 2,
        request_rate: RequestRate::Infinite,
        burstiness: 1.0,
        max_concurrency: None,
        ignore_eos: true,
        seed: 0,
        duration: 1.0,
        completed: 2,
        failed: 0,
        total_input_tokens: 470,
        total_output_tokens: 256,
        request_throughput: 2.0,
        request_goodput: None,
        goodput_slo_ms: BTreeMap::new(),
        output_throughput: 256.0,
        total_token_throughput: 726.0,
        output_token_source: TokenCountSource::ServerUsage,
        latency_ms,
        input_lens: vec![235, 235],
        output_lens: vec![128, 128],
        ttfts: vec![0.1, 0.1],
        itls: vec![vec![], vec![]],
        errors: vec![String::new(), String::new()],
    }
}

const ANCHORS: &str = r#"
[[anchor]]
id = "vllm-h100-throughput"
engine = "vllm"
engine_version = "0.6.0"
hardware = "1x H100"
hardware_class = "H100"
model = "Llama 3 8B"
precision = "bf16"
workload = "ShareGPT 500 prompts at once"
dataset = "sharegpt"
num_prompts = 500
request_rate = "inf"
metric = "request_throughput"
value = 37.0
unit = "req/s"
source_url = "https://blog.example/perf"
source_title = "perf"
date = "2024-09-05"
verified = true
note = "bar chart"

[[anchor]]
id = "vllm-h100-tpot"
engine = "vllm"
engine_version = "0.6.0"
hardware = "1x H100"
hardware_class = "H100"
model = "Llama 3 8B"
precision = "bf16"
workload = "ShareGPT 500 prompts at once"
dataset = "sharegpt"
num_prompts = 500
request_rate = "inf"
metric = "mean_tpot_ms"
value = 16.0
unit = "ms"
source_url = "https://blog.example/perf"
source_title = "perf"
date = "2024-09-05"
verified = false
note = "issue's figure, not re-verified"

[[anchor]]
id = "vllm-h100-tpot-2qps"
engine = "vllm"
engine_version = "0.6.0"
hardware = "1x H100"
hardware_class = "H100"
model = "Llama 3 8B"
precision = "bf16"
workload = "ShareGPT 500 prompts at 2 req/s"
dataset = "sharegpt"
num_prompts = 500
request_rate = 2.0
metric = "mean_tpot_ms"
value = 8.7
unit = "ms"
source_url = "https://blog.example/perf"
source_title = "perf"
date = "2024-09-05"
verified = true
note = ""

[[anchor]]
id = "trt-h200"
engine = "tensorrt-llm"
engine_version = "1.0"
hardware = "1x H200"
hardware_class = "H200"
model = "Llama 3.1 8B FP8"
precision = "fp8"
workload = "128/128 offline"
dataset = "random"
metric = "output_throughput"
value = 27911.0
unit = "tok/s"
source_url = "https://trt.example/perf"
source_title = "perf"
date = "undated"
verified = true
note = ""

[[anchor]]
id = "llamacpp-cpu"
engine = "llama.cpp"
engine_version = "0c1e57098"
hardware = "2 vCPU EPYC"
hardware_class = "cpu-2core-epyc"
model = "SmolLM2"
precision = "Q4_1"
workload = "1 client, 235 in / 128 out"
dataset = "random"
max_concurrency = 1
input_len = 235
output_len = 128
metric = "output_throughput"
value = 57.0
range = [55.0, 59.0]
unit = "tok/s"
source_url = "../shared/reference/llamacpp-cpu.md"
source_title = "llama.cpp on this machine"
date = "undated"
verified = true
note = "range over runs"
"#;

fn loaded<T>(name: &str, value: T) -> Loaded<T> {
    Loaded { name: name.into(), path: name.into(), value }
}

fn h100_run() -> BenchResult {
    let mut r = sample_run("llmserve", "H100", "synthetic-sharegpt");
    r.num_prompts = 500;
    r.request_throughput = 40.7;
    r.latency_ms.insert("mean_tpot_ms".into(), 20.0);
    r
}

fn cpu_run() -> BenchResult {
    let mut r = sample_run("llmserve", "cpu-2core-epyc", "random");
    r.max_concurrency = Some(1);
    r.output_throughput = 62.7;
    r
}

fn sweep(label: &str, loads: &[f64], speed: f64) -> SweepResult {
    let points = loads
        .iter()
        .map(|&load| {
            let mut r = sample_run(label, "cpu-2core-epyc", "random");
            r.max_concurrency = Some(load as usize);
            r.output_throughput = speed * load;
            SweepPoint { load, result: r }
        })
        .collect();
    SweepResult { label: label.into(), axis: SweepAxis::MaxConcurrency, points }
}

fn rendered(inputs: &Inputs, images: &[Vec<Image>]) -> String {
    let anchors = Anchors::parse(ANCHORS).unwrap();
    let groups = sweep_groups(inputs);
    render(&Context { inputs, anchors: &anchors, anchors_path: "anchors.toml", groups: &groups, images })
}

/// The text of the section that starts with `heading` (up to the next heading of that level or above).
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text.find(heading).unwrap_or_else(|| panic!("no section {heading}:\n{text}"));
    let level = heading.chars().take_while(|c| *c == '#').count();
    let rest = &text[start + heading.len()..];
    let end = rest
        .match_indices("\n#")
        .find(|(i, _)| rest[i + 1..].chars().take_while(|c| *c == '#').count() <= level)
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    &text[start..start + heading.len() + end]
}

#[test]
fn anchors_are_compared_by_class_and_workload_only() {
    let inputs =
        Inputs { runs: vec![loaded("a-h100.json", h100_run()), loaded("b-cpu.json", cpu_run())], sweeps: vec![] };
    let text = rendered(&inputs, &[]);

    let h100 = section(&text, "#### H100\n");
    // Throughput: 40.7 / 37 = 1.10, higher is better, marked synthetic.
    let row = h100.lines().find(|l| l.contains("request throughput (req/s)") && l.contains("a-h100.json")).expect(h100);
    assert!(row.contains("| 37.0 | 40.7 | 1.10× (higher is better) |"), "{row}");
    assert!(row.contains("(synthetic ShareGPT-shaped workload)"), "{row}");
    assert!(row.contains("[vLLM 0.6.0](https://blog.example/perf)"), "{row}");
    assert!(row.contains("2026-11-27 12:05 UTC") && row.contains("test machine of class H100"), "{row}");
    // Latency: 20 / 16 = 1.25, lower is better.
    let row = h100.lines().find(|l| l.contains("mean TPOT (ms)") && l.contains("a-h100.json")).expect(h100);
    assert!(row.contains("| 16.0 | 20.0 | 1.25× (lower is better) |"), "{row}");
    // The 2 req/s anchor has no run at that rate: listed with its own number only.
    let unmatched = &h100[h100.find("No comparable run").expect(h100)..];
    assert!(unmatched.contains("ShareGPT 500 prompts at 2 req/s") && unmatched.contains("| 8.70 |"), "{unmatched}");
    assert!(
        h100.contains(
            "- `vllm-h100-tpot`: [perf](https://blog.example/perf), 2024-09-05; not re-verified. issue's figure"
        ),
        "{h100}"
    );
    assert!(!h100.contains("b-cpu.json"), "no CPU run in the H100 section");

    let h200 = section(&text, "#### H200: not yet measured on this hardware\n");
    assert!(h200.contains("| 27,911 |"), "{h200}");
    assert!(!h200.contains(".json"), "no run of another class is compared with H200: {h200}");

    let cpu = section(&text, "#### cpu-2core-epyc\n");
    let row = cpu.lines().find(|l| l.contains("b-cpu.json")).expect(cpu);
    assert!(row.contains("| 57.0 (55.0–59.0) | 62.7 | 1.10× (higher is better) |"), "{row}");
    assert!(row.contains("| llama.cpp 0c1e57098 · SmolLM2 · Q4_1 · 2 vCPU EPYC |"), "{row}");
    assert!(cpu.contains("- `llamacpp-cpu`: llama.cpp on this machine (`../shared/reference/llamacpp-cpu.md`), undated; re-read in the source. range over runs"), "{cpu}");
    assert!(!row.contains("synthetic"), "{row}");
    assert!(!cpu.contains("a-h100.json"), "no H100 run in the CPU section");
}

#[test]
fn a_class_with_runs_but_no_comparable_workload_lists_its_anchors() {
    let mut r = cpu_run();
    r.max_concurrency = Some(4);
    let inputs = Inputs { runs: vec![loaded("c.json", r)], sweeps: vec![] };
    let text = rendered(&inputs, &[]);
    let cpu = section(&text, "#### cpu-2core-epyc\n");
    assert!(cpu.contains("none with a workload comparable"), "{cpu}");
    assert!(cpu.contains("| 1 client, 235 in / 128 out | output throughput (tok/s) | 57.0 (55.0–59.0) |"), "{cpu}");
    assert!(text.contains("#### H100: not yet measured on this hardware"), "{text}");
}

#[test]
fn every_run_and_sweep_point_is_in_the_runs_table() {
    let inputs = Inputs {
        runs: vec![loaded("a-h100.json", h100_run())],
        sweeps: vec![
            loaded("s.json", sweep("llmserve", &[1.0, 4.0], 50.0)),
            loaded("t.json", SweepResult { label: "x".into(), axis: SweepAxis::RequestRate, points: vec![] }),
        ],
    };
    let text = rendered(&inputs, &[vec![]]);
    let runs = section(&text, "### Our runs\n");
    assert!(
        runs.contains("median TTFT (ms) | p99 TTFT (ms) | median TPOT (ms) | p99 ITL (ms) | median E2EL (ms)"),
        "{runs}"
    );
    let row = runs.lines().find(|l| l.contains("`a-h100.json`")).expect(runs);
    // median TTFT 9, p99 TTFT 20, median TPOT 18, p99 ITL 60, median E2EL 36.
    assert!(row.ends_with("| 40.7 | 256 | 9.00 | 20.0 | 18.0 | 60.0 | 36.0 |"), "{row}");
    assert!(runs.contains("`s.json` @ concurrency 1 |") && runs.contains("`s.json` @ concurrency 4 |"), "{runs}");
    assert!(runs.contains("Sweep `x` in `t.json` has no points."), "{runs}");
}

#[test]
fn sweeps_of_two_servers_are_compared_per_shared_load_with_plots() {
    let inputs = Inputs {
        runs: vec![],
        sweeps: vec![
            loaded("a-llama.json", sweep("llama-server", &[1.0, 4.0], 40.0)),
            loaded("b-ours.json", sweep("llmserve", &[1.0, 4.0, 8.0], 50.0)),
        ],
    };
    let images = vec![vec![Image {
        alt: "TTFT vs load".into(),
        link: "docs/bench-plots/cpu-2core-epyc-max-concurrency/ttft.png".into(),
    }]];
    let text = rendered(&inputs, &images);
    let side = section(&text, "### Side by side on the same machine\n");
    assert!(side.contains("#### `cpu-2core-epyc`, max concurrency (requests)"), "{side}");
    // llmserve is "ours" although its file sorts second; one table per shared load (1 and 4, not 8).
    assert!(side.contains("| metric | `llmserve` | `llama-server` | `llmserve` / `llama-server` |"), "{side}");
    assert!(
        side.contains("**concurrency 1**") && side.contains("**concurrency 4**") && !side.contains("**concurrency 8**"),
        "{side}"
    );
    let at4 = section(side, "**concurrency 4**");
    assert!(at4.contains("| output throughput (tok/s) | 200 | 160 | 1.25× (higher is better) |"), "{at4}");
    assert!(at4.contains("| median TTFT (ms) | 9.00 | 9.00 | 1.00× (lower is better) |"), "{at4}");
    assert!(side.contains("![TTFT vs load](docs/bench-plots/cpu-2core-epyc-max-concurrency/ttft.png)"), "{side}");
}

#[test]
fn rendering_is_deterministic() {
    let inputs =
        Inputs { runs: vec![loaded("a-h100.json", h100_run()), loaded("b-cpu.json", cpu_run())], sweeps: vec![] };
    assert_eq!(rendered(&inputs, &[]), rendered(&inputs, &[]));
}

fn write_json(dir: &Path, name: &str, value: &impl serde::Serialize) {
    std::fs::write(dir.join(name), serde_json::to_string_pretty(value).unwrap()).unwrap();
}

fn args(root: &Path) -> ReportArgs {
    ReportArgs {
        results: vec![root.join("results")],
        anchors: root.join("anchors.toml"),
        output: root.join("BENCHMARKS.md"),
        plots: root.join("docs/bench-plots"),
        percentiles: vec![50.0, 90.0, 99.0],
    }
}

fn setup() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("results")).unwrap();
    std::fs::write(root.path().join("anchors.toml"), ANCHORS).unwrap();
    write_json(&root.path().join("results"), "cpu.json", &cpu_run());
    root
}

#[test]
fn the_block_is_replaced_in_place_and_a_second_run_changes_nothing() {
    let root = setup();
    let a = args(root.path());
    let before = "# Benchmarks\n\nHand-written  text, kept as is.\r\n\n";
    let after = "\n## Later\n\nmore hand-written text";
    std::fs::write(&a.output, format!("{before}{BEGIN}\nstale generated text\n{END}{after}")).unwrap();

    let summary = run(&a).unwrap();
    assert!(summary.starts_with("replaced the report block in"), "{summary}");
    assert!(summary.contains("1 single run and 0 sweeps (0 points) from 1 result directory") && summary.contains("1 of 5 anchors compared"), "{summary}");
    let first = std::fs::read_to_string(&a.output).unwrap();
    assert!(first.starts_with(&format!("{before}{BEGIN}\n")), "{first}");
    assert!(first.ends_with(&format!("{END}{after}")), "{first}");
    assert!(!first.contains("stale generated text"));
    assert!(first.contains("| 57.0 (55.0–59.0) | 62.7 |"), "{first}");

    run(&a).unwrap();
    assert_eq!(std::fs::read_to_string(&a.output).unwrap(), first, "idempotent");
}

#[test]
fn the_block_is_appended_to_a_file_without_markers_or_a_new_file() {
    let root = setup();
    let a = args(root.path());
    let summary = run(&a).unwrap();
    assert!(summary.starts_with("appended the report block to"), "{summary}");
    let created = std::fs::read_to_string(&a.output).unwrap();
    assert!(created.starts_with(&format!("{BEGIN}\n")) && created.ends_with(&format!("{END}\n")), "{created}");

    std::fs::write(&a.output, "# Benchmarks\n\nold notes\n").unwrap();
    run(&a).unwrap();
    let text = std::fs::read_to_string(&a.output).unwrap();
    assert!(text.starts_with(&format!("# Benchmarks\n\nold notes\n\n{BEGIN}\n")), "{text}");
    assert_eq!(text.matches(BEGIN).count(), 1);
}

#[test]
fn a_json_that_is_not_a_result_is_an_error_naming_it() {
    let root = setup();
    let a = args(root.path());
    std::fs::write(root.path().join("results/zz-notes.json"), r#"{"hello": "world"}"#).unwrap();
    let e = run(&a).unwrap_err().to_string();
    assert!(e.contains("zz-notes.json is not a bench result") && e.contains("neither"), "{e}");
    assert!(!a.output.exists(), "nothing written on error");

    std::fs::write(root.path().join("results/zz-notes.json"), r#"{"points": 3}"#).unwrap();
    let e = run(&a).unwrap_err().to_string();
    assert!(e.contains("zz-notes.json") && e.contains("like a sweep result"), "{e}");
    std::fs::write(root.path().join("results/zz-notes.json"), "not json").unwrap();
    let e = run(&a).unwrap_err().to_string();
    assert!(e.contains("zz-notes.json") && e.contains("not valid JSON"), "{e}");
    std::fs::remove_file(root.path().join("results/zz-notes.json")).unwrap();
    std::fs::write(root.path().join("results/readme.txt"), "not a result, not JSON by name").unwrap();
    run(&a).expect("only *.json files are read");
}

#[test]
fn bad_percentiles_are_refused() {
    let root = setup();
    let mut a = args(root.path());
    a.percentiles = vec![50.0, 101.0];
    assert!(matches!(run(&a), Err(ReportError::Percentile(p)) if p == 101.0));
}

#[test]
fn sweeps_get_plots_linked_relative_to_the_output_file() {
    if let Err(e) = crate::plot::locate_font(std::env::var_os(crate::plot::FONT_ENV), crate::plot::COMMON_FONT_PATHS) {
        eprintln!("skipping: {e}");
        return;
    }
    let root = setup();
    let mut a = args(root.path());
    a.output = root.path().join("site/BENCHMARKS.md");
    a.plots = root.path().join("plots");
    write_json(&root.path().join("results"), "s1.json", &sweep("llmserve", &[1.0, 2.0, 4.0], 50.0));
    write_json(&root.path().join("results"), "s2.json", &sweep("llama-server", &[1.0, 2.0, 4.0], 40.0));
    let summary = run(&a).unwrap();
    assert!(summary.contains("6 plots"), "{summary}");
    let text = std::fs::read_to_string(&a.output).unwrap();
    let link = "../plots/cpu-2core-epyc-max-concurrency/ttft.png";
    assert!(text.contains(&format!("![TTFT vs load]({link})")), "{text}");
    assert!(a.output.parent().unwrap().join(link).is_file());
    assert!(text.contains("| output throughput (tok/s) | 200 | 160 | 1.25× (higher is better) |"), "{text}");
}

#[test]
fn relative_links() {
    let link = |from: &str, to: &str| relative_link(Path::new(from), Path::new(to));
    assert_eq!(link("/r", "/r/docs/bench-plots/a/ttft.png"), "docs/bench-plots/a/ttft.png");
    assert_eq!(link("/r/site", "/r/plots/ttft.png"), "../plots/ttft.png");
    assert_eq!(absolute(Path::new("/r/./a/../b")), Path::new("/r/b"));
}

#[test]
fn the_real_anchors_file_renders_against_cpu_runs() {
    let root = setup();
    let mut a = args(root.path());
    a.anchors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/anchors.toml");
    let mut single = cpu_run();
    single.max_concurrency = Some(4);
    single.output_throughput = 81.3;
    single.latency_ms.insert("mean_tpot_ms".into(), 27.5);
    write_json(&root.path().join("results"), "cpu-conc4.json", &single);
    run(&a).unwrap();
    let text = std::fs::read_to_string(&a.output).unwrap();
    let cpu = section(&text, "#### cpu-2core-epyc\n");
    let row = cpu.lines().find(|l| l.contains("cpu-conc4.json") && l.contains("output throughput")).expect(cpu);
    assert!(row.contains("| 70.0 (63.0–77.0) | 81.3 | 1.16× (higher is better) |"), "{row}");
    assert!(text.contains("#### H100: not yet measured on this hardware"), "{text}");
    assert!(text.contains("#### H200: not yet measured on this hardware"), "{text}");
    // Set LLMSERVE_KEEP_REPORT=FILE to read the rendered block.
    if let Some(keep) = std::env::var_os("LLMSERVE_KEEP_REPORT") {
        std::fs::copy(&a.output, keep).unwrap();
    }
}

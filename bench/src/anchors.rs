//! Published numbers of other engines (vLLM, SGLang, TensorRT-LLM, LMDeploy, llama.cpp), read from
//! `benches/anchors.toml`: each [`Anchor`] is one number with the conditions it was measured under
//! (hardware class, model, precision, workload), its source, and whether we re-verified it. The report
//! (`llmserve bench report`) compares our runs against the anchors of the same hardware class and a
//! comparable workload — never across hardware.
//!
//! An anchor's `metric` is a key of our [`BenchResult`] (vLLM's names: `request_throughput`,
//! `output_throughput`, `total_token_throughput`, `request_goodput`, `{mean,median,std,pN}_{ttft,tpot,
//! itl,e2el}_ms`), so the comparison reads the same field on both sides; [`AnchorMetric`] is that key
//! parsed. Loading validates every entry and names the entry in every error.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::result::{BenchResult, LatencyMetric, RequestRate, Stat};

/// Which engine published the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Engine {
    #[serde(rename = "vllm")]
    Vllm,
    #[serde(rename = "sglang")]
    Sglang,
    #[serde(rename = "tensorrt-llm")]
    TensorrtLlm,
    #[serde(rename = "lmdeploy")]
    Lmdeploy,
    #[serde(rename = "llama.cpp")]
    LlamaCpp,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Vllm => "vLLM",
            Engine::Sglang => "SGLang",
            Engine::TensorrtLlm => "TensorRT-LLM",
            Engine::Lmdeploy => "LMDeploy",
            Engine::LlamaCpp => "llama.cpp",
        })
    }
}

/// The throughput fields of a [`BenchResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThroughputMetric {
    /// Completed requests per second.
    Request,
    /// Requests per second meeting the goodput SLOs.
    Goodput,
    /// Generated tokens per second, all requests together.
    Output,
    /// Prompt + generated tokens per second.
    TotalToken,
}

/// An anchor's metric: one field of a [`BenchResult`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnchorMetric {
    Throughput(ThroughputMetric),
    Latency(LatencyMetric, Stat),
}

impl AnchorMetric {
    /// Parses a [`BenchResult`] key (`output_throughput`, `median_tpot_ms`, `p99_itl_ms`, …).
    pub fn parse(key: &str) -> Option<AnchorMetric> {
        let throughput = match key {
            "request_throughput" => Some(ThroughputMetric::Request),
            "request_goodput" => Some(ThroughputMetric::Goodput),
            "output_throughput" => Some(ThroughputMetric::Output),
            "total_token_throughput" => Some(ThroughputMetric::TotalToken),
            _ => None,
        };
        if let Some(t) = throughput {
            return Some(AnchorMetric::Throughput(t));
        }
        let rest = key.strip_suffix("_ms")?;
        let (stat, metric) = rest.split_once('_')?;
        let metric = LatencyMetric::ALL.into_iter().find(|m| m.key() == metric)?;
        let stat = match stat {
            "mean" => Stat::Mean,
            "median" => Stat::Median,
            "std" => Stat::Std,
            p => {
                let value: f64 = p.strip_prefix('p')?.parse().ok()?;
                if !(value > 0.0 && value <= 100.0) {
                    return None;
                }
                Stat::Percentile(value)
            }
        };
        Some(AnchorMetric::Latency(metric, stat))
    }

    /// The [`BenchResult`] key, normalised (`p99.0` → `p99`).
    pub fn key(&self) -> String {
        match self {
            AnchorMetric::Throughput(ThroughputMetric::Request) => "request_throughput".into(),
            AnchorMetric::Throughput(ThroughputMetric::Goodput) => "request_goodput".into(),
            AnchorMetric::Throughput(ThroughputMetric::Output) => "output_throughput".into(),
            AnchorMetric::Throughput(ThroughputMetric::TotalToken) => "total_token_throughput".into(),
            AnchorMetric::Latency(m, s) => format!("{}_{}_ms", s.key(), m.key()),
        }
    }

    /// The unit an anchor of this metric must state.
    pub fn unit(&self) -> &'static str {
        match self {
            AnchorMetric::Throughput(ThroughputMetric::Request | ThroughputMetric::Goodput) => "req/s",
            AnchorMetric::Throughput(ThroughputMetric::Output | ThroughputMetric::TotalToken) => "tok/s",
            AnchorMetric::Latency(..) => "ms",
        }
    }

    /// Throughput: more is better; latency: less is better.
    pub fn higher_is_better(&self) -> bool {
        matches!(self, AnchorMetric::Throughput(_))
    }

    /// Words for tables: `output throughput`, `median TPOT`, `p99 ITL`.
    pub fn describe(&self) -> String {
        match self {
            AnchorMetric::Throughput(ThroughputMetric::Request) => "request throughput".into(),
            AnchorMetric::Throughput(ThroughputMetric::Goodput) => "request goodput".into(),
            AnchorMetric::Throughput(ThroughputMetric::Output) => "output throughput".into(),
            AnchorMetric::Throughput(ThroughputMetric::TotalToken) => "total token throughput".into(),
            AnchorMetric::Latency(m, s) => format!("{} {}", s.key(), m.key().to_uppercase()),
        }
    }

    /// This metric's value in one of our runs; `None` when the run did not compute it.
    pub fn of(&self, run: &BenchResult) -> Option<f64> {
        match self {
            AnchorMetric::Throughput(ThroughputMetric::Request) => Some(run.request_throughput),
            AnchorMetric::Throughput(ThroughputMetric::Goodput) => run.request_goodput,
            AnchorMetric::Throughput(ThroughputMetric::Output) => Some(run.output_throughput),
            AnchorMetric::Throughput(ThroughputMetric::TotalToken) => Some(run.total_token_throughput),
            AnchorMetric::Latency(m, s) => run.latency(*m, *s),
        }
    }
}

/// One entry of `benches/anchors.toml` as written (validated into an [`Anchor`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnchor {
    id: String,
    engine: Engine,
    engine_version: String,
    hardware: String,
    hardware_class: String,
    model: String,
    precision: String,
    workload: String,
    dataset: String,
    num_prompts: Option<usize>,
    request_rate: Option<RequestRate>,
    max_concurrency: Option<usize>,
    input_len: Option<u64>,
    output_len: Option<u64>,
    metric: String,
    value: f64,
    range: Option<[f64; 2]>,
    unit: String,
    source_url: String,
    source_title: String,
    date: String,
    verified: bool,
    note: String,
}

/// One published number and the conditions it was measured under.
#[derive(Clone, Debug)]
pub struct Anchor {
    /// Unique within the file; names the entry in errors and in the report.
    pub id: String,
    pub engine: Engine,
    pub engine_version: String,
    /// Free text, as the source states it (`1x H100 80GB SXM`).
    pub hardware: String,
    /// What our runs are matched on (`H100`, `H200`, `A100`, `cpu-2core-epyc`): equal to a run's
    /// `hardware_class`, compared case-insensitively.
    pub hardware_class: String,
    pub model: String,
    pub precision: String,
    /// The workload in words (dataset, lengths, how requests arrive).
    pub workload: String,
    /// Dataset family, machine-readable: `sharegpt`, `random`, …
    pub dataset: String,
    /// The conditions the report matches on when stated; `None` = the source does not state it.
    pub num_prompts: Option<usize>,
    pub request_rate: Option<RequestRate>,
    pub max_concurrency: Option<usize>,
    /// Fixed prompt / output lengths in tokens, when the workload has them.
    pub input_len: Option<u64>,
    pub output_len: Option<u64>,
    pub metric: AnchorMetric,
    pub value: f64,
    /// The spread the source reports (`value` lies inside it), e.g. the range over repeated runs.
    pub range: Option<[f64; 2]>,
    pub unit: String,
    /// An `http(s)://` address, or a path relative to the repository root for a file of this project.
    pub source_url: String,
    pub source_title: String,
    /// `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or `undated`.
    pub date: String,
    /// Whether we re-read the number in its source; when false, `note` says so.
    pub verified: bool,
    /// How the number was read (table, bar chart ± …) and any caveat.
    pub note: String,
}

impl Anchor {
    /// Whether `source_url` is a web address (linked in the report) rather than a project file.
    pub fn source_is_web(&self) -> bool {
        self.source_url.starts_with("https://") || self.source_url.starts_with("http://")
    }
}

/// The published anchors, in file order.
#[derive(Clone, Debug, Default)]
pub struct Anchors {
    pub anchors: Vec<Anchor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorsFile {
    #[serde(default)]
    anchor: Vec<toml::Value>,
}

impl Anchors {
    pub fn load(path: &Path) -> Result<Anchors, AnchorsError> {
        let text = std::fs::read_to_string(path).map_err(|e| AnchorsError::Io(path.display().to_string(), e))?;
        Anchors::parse(&text).map_err(|e| AnchorsError::InFile(path.display().to_string(), Box::new(e)))
    }

    /// Parses and validates the text of an anchors file.
    pub fn parse(text: &str) -> Result<Anchors, AnchorsError> {
        let file: AnchorsFile = toml::from_str(text).map_err(AnchorsError::Toml)?;
        let mut anchors = Vec::with_capacity(file.anchor.len());
        let mut ids = BTreeSet::new();
        for (index, value) in file.anchor.into_iter().enumerate() {
            let name = entry_name(index, &value);
            let raw = RawAnchor::deserialize(value)
                .map_err(|e| AnchorsError::Entry { entry: name.clone(), message: e.message().trim().to_string() })?;
            let anchor = validate(raw).map_err(|message| AnchorsError::Entry { entry: name.clone(), message })?;
            if !ids.insert(anchor.id.clone()) {
                return Err(AnchorsError::Entry { entry: name, message: "duplicate id".into() });
            }
            anchors.push(anchor);
        }
        Ok(Anchors { anchors })
    }
}

/// `anchor #3 (id "vllm-…")`, 1-based as a person counts entries in the file.
fn entry_name(index: usize, value: &toml::Value) -> String {
    match value.get("id").and_then(toml::Value::as_str) {
        Some(id) => format!("anchor #{} (id \"{id}\")", index + 1),
        None => format!("anchor #{}", index + 1),
    }
}

fn validate(raw: RawAnchor) -> Result<Anchor, String> {
    let required = [
        ("id", &raw.id),
        ("engine_version", &raw.engine_version),
        ("hardware", &raw.hardware),
        ("hardware_class", &raw.hardware_class),
        ("model", &raw.model),
        ("precision", &raw.precision),
        ("workload", &raw.workload),
        ("dataset", &raw.dataset),
        ("source_title", &raw.source_title),
        ("source_url", &raw.source_url),
    ];
    for (field, value) in required {
        if value.trim().is_empty() {
            return Err(format!("`{field}` is empty"));
        }
    }
    if raw.hardware_class.contains(char::is_whitespace) {
        return Err(format!(
            "`hardware_class` must be one word (it is matched exactly), got \"{}\"",
            raw.hardware_class
        ));
    }
    let metric = AnchorMetric::parse(&raw.metric).ok_or_else(|| {
        format!(
            "unknown metric \"{}\": expected a BenchResult key (request_throughput, request_goodput, output_throughput, \
             total_token_throughput, or {{mean,median,std,pN}}_{{ttft,tpot,itl,e2el}}_ms)",
            raw.metric
        )
    })?;
    if !(raw.value.is_finite() && raw.value > 0.0) {
        return Err(format!("`value` must be a positive number, got {}", raw.value));
    }
    if let Some([low, high]) = raw.range {
        if !(low.is_finite() && high.is_finite() && low > 0.0 && low <= raw.value && raw.value <= high) {
            return Err(format!("`range` [{low}, {high}] must be positive and contain value {}", raw.value));
        }
    }
    if raw.unit != metric.unit() {
        return Err(format!("`unit` of {} must be \"{}\", got \"{}\"", metric.key(), metric.unit(), raw.unit));
    }
    let web = raw.source_url.starts_with("https://") || raw.source_url.starts_with("http://");
    if !web && (raw.source_url.contains("://") || raw.source_url.contains(char::is_whitespace)) {
        return Err(format!(
            "`source_url` must be an http(s) address or a repository-relative path, got \"{}\"",
            raw.source_url
        ));
    }
    if !valid_date(&raw.date) {
        return Err(format!("`date` must be YYYY, YYYY-MM, YYYY-MM-DD or \"undated\", got \"{}\"", raw.date));
    }
    if !raw.verified && !raw.note.to_lowercase().contains("not re-verified") {
        return Err("`verified = false` needs a `note` saying the number was \"not re-verified\"".into());
    }
    if raw.num_prompts == Some(0)
        || raw.max_concurrency == Some(0)
        || raw.input_len == Some(0)
        || raw.output_len == Some(0)
    {
        return Err("num_prompts, max_concurrency, input_len and output_len must be positive when given".into());
    }
    Ok(Anchor {
        id: raw.id,
        engine: raw.engine,
        engine_version: raw.engine_version,
        hardware: raw.hardware,
        hardware_class: raw.hardware_class,
        model: raw.model,
        precision: raw.precision,
        workload: raw.workload,
        dataset: raw.dataset.to_lowercase(),
        num_prompts: raw.num_prompts,
        request_rate: raw.request_rate,
        max_concurrency: raw.max_concurrency,
        input_len: raw.input_len,
        output_len: raw.output_len,
        metric,
        value: raw.value,
        range: raw.range,
        unit: raw.unit,
        source_url: raw.source_url,
        source_title: raw.source_title,
        date: raw.date,
        verified: raw.verified,
        note: raw.note,
    })
}

fn valid_date(date: &str) -> bool {
    if date == "undated" {
        return true;
    }
    let parts: Vec<&str> = date.split('-').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [y] => digits(y, 4),
        [y, m] => digits(y, 4) && digits(m, 2),
        [y, m, d] => digits(y, 4) && digits(m, 2) && digits(d, 2),
        _ => false,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnchorsError {
    #[error("reading {0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}: {1}")]
    InFile(String, #[source] Box<AnchorsError>),
    #[error("not a valid anchors file: {0}")]
    Toml(#[source] toml::de::Error),
    #[error("{entry}: {message}")]
    Entry { entry: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(extra: &str) -> String {
        format!(
            r#"
[[anchor]]
id = "a"
engine = "vllm"
engine_version = "0.6.0"
hardware = "1x H100"
hardware_class = "H100"
model = "Llama 3 8B"
precision = "bf16"
workload = "ShareGPT, 500 prompts"
dataset = "sharegpt"
num_prompts = 500
request_rate = "inf"
unit = "req/s"
source_url = "https://example.org/post"
source_title = "post"
date = "2024-09-05"
verified = true
note = "bar chart"
{extra}
"#
        )
    }

    #[test]
    fn loads_the_real_anchors_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/anchors.toml");
        let anchors = Anchors::load(&path).expect("benches/anchors.toml is valid");
        assert!(anchors.anchors.len() >= 8, "the issue's anchors are all there");
        let engines: BTreeSet<Engine> = anchors.anchors.iter().map(|a| a.engine).collect();
        for engine in [Engine::Vllm, Engine::Sglang, Engine::TensorrtLlm, Engine::LlamaCpp] {
            assert!(engines.contains(&engine), "{engine} has an anchor");
        }
        let trt = anchors
            .anchors
            .iter()
            .find(|a| {
                a.engine == Engine::TensorrtLlm
                    && a.hardware_class == "H100"
                    && a.metric == AnchorMetric::Throughput(ThroughputMetric::Output)
            })
            .expect("TensorRT-LLM H100 anchor");
        assert_eq!(trt.value, 28312.0);
        assert!(anchors.anchors.iter().any(|a| a.hardware_class == "cpu-2core-epyc"), "CPU anchors use our CPU class");
    }

    #[test]
    fn a_valid_entry_parses() {
        let anchors = Anchors::parse(&entry("metric = \"request_throughput\"\nvalue = 37.0")).unwrap();
        let a = &anchors.anchors[0];
        assert_eq!(a.metric, AnchorMetric::Throughput(ThroughputMetric::Request));
        assert_eq!(a.request_rate, Some(RequestRate::Infinite));
        assert!(a.metric.higher_is_better());
    }

    #[test]
    fn latency_keys_round_trip_and_point_lower() {
        for key in ["median_tpot_ms", "mean_itl_ms", "p99_ttft_ms", "p99.9_e2el_ms", "std_itl_ms"] {
            let metric = AnchorMetric::parse(key).unwrap_or_else(|| panic!("{key} parses"));
            assert_eq!(metric.key(), key);
            assert!(!metric.higher_is_better());
            assert_eq!(metric.unit(), "ms");
        }
        for bad in ["median_tpot", "p0_itl_ms", "p101_itl_ms", "median_foo_ms", "throughput", "pxx_itl_ms"] {
            assert!(AnchorMetric::parse(bad).is_none(), "{bad} is rejected");
        }
    }

    fn error_of(text: &str) -> String {
        Anchors::parse(text).expect_err("invalid").to_string()
    }

    #[test]
    fn errors_name_the_entry_and_the_problem() {
        let e = error_of(&entry("metric = \"tokens_per_second\"\nvalue = 1.0"));
        assert!(e.contains("anchor #1 (id \"a\")") && e.contains("unknown metric \"tokens_per_second\""), "{e}");
        let e = error_of(&entry("metric = \"request_throughput\"\nvalue = 0.0"));
        assert!(e.contains("positive"), "{e}");
        let e = error_of(&entry("metric = \"request_throughput\"\nvalue = 3.0\ncolour = \"red\""));
        assert!(e.contains("anchor #1") && e.contains("unknown field `colour`"), "{e}");
        let e = error_of(&entry("metric = \"output_throughput\"\nvalue = 3.0"));
        assert!(e.contains("must be \"tok/s\""), "{e}");
        let e =
            error_of(&entry("metric = \"request_throughput\"\nvalue = 3.0").replace("https://example.org/post", ""));
        assert!(e.contains("`source_url` is empty"), "{e}");
        let e = error_of(&entry("metric = \"request_throughput\"\nvalue = 3.0\nrange = [4.0, 5.0]"));
        assert!(e.contains("range"), "{e}");
        let e = error_of(
            &entry("metric = \"request_throughput\"\nvalue = 3.0").replace("verified = true", "verified = false"),
        );
        assert!(e.contains("not re-verified"), "{e}");
        let e = error_of(&entry("metric = \"request_throughput\"\nvalue = 3.0").replace("2024-09-05", "Sept 2024"));
        assert!(e.contains("`date`"), "{e}");
    }

    #[test]
    fn duplicate_ids_and_the_second_entry_are_named() {
        let one = entry("metric = \"request_throughput\"\nvalue = 3.0");
        let e = error_of(&format!("{one}{one}"));
        assert!(e.contains("anchor #2 (id \"a\"): duplicate id"), "{e}");
        let e = error_of(&format!("{one}[[anchor]]\nid = \"b\"\n"));
        assert!(e.contains("anchor #2 (id \"b\")") && e.contains("missing field"), "{e}");
    }
}

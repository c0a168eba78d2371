//! Which of our runs an anchor may be compared with. Hardware first: the same hardware class or
//! nothing (a number measured on an H100 says nothing about a CPU run). Then the workload: the same
//! dataset family (our `synthetic-sharegpt` stands in for `sharegpt`, and the comparison says so),
//! and each condition the anchor states — num_prompts, request rate, max concurrency, and the fixed
//! prompt / output lengths (our mean within [`LENGTH_TOLERANCE`]). Conditions the source does not
//! state are not checked.

use crate::anchors::Anchor;
use crate::result::{BenchResult, RequestRate};

/// How far our mean prompt / output length may be from an anchor's fixed length (relative).
pub const LENGTH_TOLERANCE: f64 = 0.10;

/// Our dataset names for a ShareGPT-shaped workload generated without the ShareGPT file.
const SYNTHETIC_SHAREGPT: &[&str] = &["synthetic-sharegpt", "synthetic_sharegpt"];

/// How an anchor and a run compare, when they do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparable {
    /// Same hardware class and workload.
    Yes,
    /// Same, except that our prompts were generated in ShareGPT's shape rather than taken from it.
    SyntheticShareGpt,
}

/// Whether two hardware classes are the same (case-insensitive: `H100` = `h100`).
pub fn same_class(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The dataset family of one of our runs and whether it was synthetic ShareGPT.
fn family(dataset_name: &str) -> (String, bool) {
    let name = dataset_name.to_lowercase();
    if SYNTHETIC_SHAREGPT.contains(&name.as_str()) {
        ("sharegpt".into(), true)
    } else {
        (name, false)
    }
}

fn same_rate(a: RequestRate, b: RequestRate) -> bool {
    match (a, b) {
        (RequestRate::Infinite, RequestRate::Infinite) => true,
        (RequestRate::PerSecond(x), RequestRate::PerSecond(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
        _ => false,
    }
}

/// Mean prompt length of a run: from the per-request lengths, else the totals.
fn mean_input_len(run: &BenchResult) -> Option<f64> {
    if !run.input_lens.is_empty() {
        return Some(run.input_lens.iter().sum::<u64>() as f64 / run.input_lens.len() as f64);
    }
    (run.num_prompts > 0).then(|| run.total_input_tokens as f64 / run.num_prompts as f64)
}

/// Mean output length of the completed requests (failed ones generated nothing).
fn mean_output_len(run: &BenchResult) -> Option<f64> {
    (run.completed > 0).then(|| run.total_output_tokens as f64 / run.completed as f64)
}

fn near(ours: Option<f64>, stated: u64) -> bool {
    ours.is_some_and(|m| (m - stated as f64).abs() <= LENGTH_TOLERANCE * stated as f64)
}

/// Whether `run` may be compared with `anchor`, and how.
pub fn compare(anchor: &Anchor, run: &BenchResult) -> Option<Comparable> {
    if !same_class(&anchor.hardware_class, &run.hardware_class) {
        return None;
    }
    let (dataset, synthetic) = family(&run.dataset_name);
    if dataset != anchor.dataset {
        return None;
    }
    if anchor.num_prompts.is_some_and(|n| n != run.num_prompts) {
        return None;
    }
    if anchor.request_rate.is_some_and(|r| !same_rate(r, run.request_rate)) {
        return None;
    }
    if anchor.max_concurrency.is_some_and(|c| run.max_concurrency != Some(c)) {
        return None;
    }
    if anchor.input_len.is_some_and(|n| !near(mean_input_len(run), n)) {
        return None;
    }
    if anchor.output_len.is_some_and(|n| !near(mean_output_len(run), n)) {
        return None;
    }
    Some(if synthetic { Comparable::SyntheticShareGpt } else { Comparable::Yes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anchors::Anchors;
    use crate::report::tests::sample_run as run;

    fn anchor(extra: &str) -> Anchor {
        let text = format!(
            r#"[[anchor]]
id = "a"
engine = "vllm"
engine_version = "0.6.0"
hardware = "1x H100"
hardware_class = "H100"
model = "m"
precision = "bf16"
workload = "w"
dataset = "sharegpt"
metric = "request_throughput"
value = 37.0
unit = "req/s"
source_url = "https://example.org"
source_title = "t"
date = "2024"
verified = true
note = ""
{extra}"#
        );
        Anchors::parse(&text).unwrap().anchors.remove(0)
    }

    #[test]
    fn hardware_class_must_match() {
        let a = anchor("");
        assert_eq!(compare(&a, &run("llmserve", "h100", "sharegpt")), Some(Comparable::Yes));
        assert_eq!(compare(&a, &run("llmserve", "H200", "sharegpt")), None);
        assert_eq!(compare(&a, &run("llmserve", "cpu-2core-epyc", "sharegpt")), None);
    }

    #[test]
    fn synthetic_sharegpt_stands_in_for_sharegpt_and_says_so() {
        let a = anchor("");
        assert_eq!(compare(&a, &run("llmserve", "H100", "synthetic-sharegpt")), Some(Comparable::SyntheticShareGpt));
        assert_eq!(compare(&a, &run("llmserve", "H100", "random")), None);
    }

    #[test]
    fn stated_conditions_must_match() {
        let a = anchor("num_prompts = 500\nrequest_rate = \"inf\"");
        let mut r = run("llmserve", "H100", "sharegpt");
        r.num_prompts = 500;
        r.request_rate = RequestRate::Infinite;
        assert!(compare(&a, &r).is_some());
        r.num_prompts = 1000;
        assert!(compare(&a, &r).is_none(), "other num_prompts");
        r.num_prompts = 500;
        r.request_rate = RequestRate::PerSecond(4.0);
        assert!(compare(&a, &r).is_none(), "other rate");

        let a = anchor("max_concurrency = 8");
        r.max_concurrency = Some(8);
        assert!(compare(&a, &r).is_some(), "rate not stated: any rate");
        r.max_concurrency = None;
        assert!(compare(&a, &r).is_none(), "no concurrency cap");
    }

    #[test]
    fn fixed_lengths_match_within_ten_percent() {
        let a = anchor("input_len = 235\noutput_len = 128");
        let mut r = run("llmserve", "H100", "sharegpt");
        r.input_lens = vec![230, 240];
        r.completed = 2;
        r.total_output_tokens = 256;
        assert!(compare(&a, &r).is_some());
        r.total_output_tokens = 2 * 100;
        assert!(compare(&a, &r).is_none(), "mean output 100 is 22 % short of 128");
        r.total_output_tokens = 256;
        r.input_lens = vec![512, 512];
        assert!(compare(&a, &r).is_none(), "prompts twice as long");
    }
}

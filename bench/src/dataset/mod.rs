//! The workloads: a list of [`SampleRequest`]s (prompt text, its token count, the output length to ask
//! for), built deterministically from a seed. The datasets follow vLLM's `vllm bench serve`:
//!
//! - [`random`]: random vocabulary tokens decoded to text, lengths uniform within ±range-ratio.
//! - [`sharegpt`]: the first two turns of ShareGPT conversations from a file the user supplies,
//!   filtered by vLLM's rules.
//! - [`synthetic`]: ShareGPT's length distribution without the file (mean ≈ 202 prompt / 179 output
//!   tokens after vLLM's filter), for machines that cannot download it.
//! - [`prefix_share`]: groups of requests sharing a long common prefix (prefix caching).
//!
//! Token counts come from the served model's tokenizer through [`PromptTokenizer`]; what the server
//! reports in `usage` is what the metrics use.

pub mod args;
pub mod prefix_share;
pub mod random;
pub mod sharegpt;
pub mod synthetic;

mod words;

use std::path::PathBuf;

/// The tokenizer of the served model, as far as building prompts needs it.
pub trait PromptTokenizer: Send + Sync {
    /// Token ids of `text`, without special tokens added.
    fn encode(&self, text: &str) -> Vec<u32>;
    /// Text of `ids`, special tokens skipped.
    fn decode(&self, ids: &[u32]) -> String;
    fn vocab_size(&self) -> usize;
    /// Control tokens (BOS, EOS, chat markers): never sampled into random prompts.
    fn is_special(&self, id: u32) -> bool;
}

/// One request of the workload.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRequest {
    pub prompt: String,
    /// Tokens of `prompt` by the tokenizer (the server's `usage` replaces it when present).
    pub prompt_len: u64,
    /// `max_tokens` of the request.
    pub output_len: u32,
}

/// Which workload, with its parameters.
#[derive(Clone, Debug)]
pub enum DatasetSpec {
    Random { input_len: u32, output_len: u32, range_ratio: f64 },
    ShareGpt { path: PathBuf, output_len: Option<u32> },
    SyntheticShareGpt,
    PrefixShare { groups: usize, prefix_len: u32, input_len: u32, output_len: u32 },
}

impl DatasetSpec {
    /// The name in result files (`random`, `sharegpt`, `synthetic-sharegpt`, `prefix-share`).
    pub fn name(&self) -> &'static str {
        match self {
            DatasetSpec::Random { .. } => "random",
            DatasetSpec::ShareGpt { .. } => "sharegpt",
            DatasetSpec::SyntheticShareGpt => "synthetic-sharegpt",
            DatasetSpec::PrefixShare { .. } => "prefix-share",
        }
    }

    /// `count` requests, the same for the same seed.
    pub fn build(&self, count: usize, tokenizer: &dyn PromptTokenizer, seed: u64) -> Result<Vec<SampleRequest>, DatasetError> {
        if count == 0 {
            return Err(DatasetError::Invalid("--num-prompts must be at least 1".into()));
        }
        match self {
            DatasetSpec::Random { input_len, output_len, range_ratio } => {
                random::build(count, *input_len, *output_len, *range_ratio, tokenizer, seed)
            }
            DatasetSpec::ShareGpt { path, output_len } => sharegpt::build(path, count, *output_len, tokenizer, seed),
            DatasetSpec::SyntheticShareGpt => synthetic::build(count, tokenizer, seed),
            DatasetSpec::PrefixShare { groups, prefix_len, input_len, output_len } => {
                prefix_share::build(count, *groups, *prefix_len, *input_len, *output_len, tokenizer, seed)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{0}")]
    Invalid(String),
    #[error("reading the ShareGPT file {0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0} is not a ShareGPT JSON file (a list of {{\"conversations\": [{{\"from\", \"value\"}}, …]}}): {1}")]
    Parse(String, #[source] serde_json::Error),
    #[error("the ShareGPT file {path} has only {found} conversations passing vLLM's filter (first two turns, ≥ 4 tokens each, prompt ≤ 1024, prompt + output ≤ 2048); {wanted} were asked for")]
    TooFew { path: String, found: usize, wanted: usize },
}

/// Token ids of `text`, cut or padded to exactly `target` tokens, re-encoded until the text's own
/// token count is stable: decoding then re-encoding can merge or split tokens at the cut. Returns the
/// text and its token count (which may differ from `target` by a token or two when no stable cut
/// exists). `pad` gives more tokens when the text is short.
pub(crate) fn fit_to_tokens(
    tokenizer: &dyn PromptTokenizer,
    mut ids: Vec<u32>,
    target: usize,
    pad: &mut dyn FnMut() -> Vec<u32>,
) -> (String, u64) {
    let mut text = String::new();
    for _ in 0..8 {
        while ids.len() < target {
            ids.extend(pad());
        }
        ids.truncate(target);
        // Tokens joined can still spell a control character (two byte-level tokens of U+0085).
        text = tokenizer.decode(&ids).chars().map(|c| if random::is_unwanted_control(c) { ' ' } else { c }).collect();
        ids = tokenizer.encode(&text);
        if ids.len() == target {
            break;
        }
    }
    let len = ids.len() as u64;
    (text, len)
}

#[cfg(test)]
pub(crate) mod test_tokenizer;

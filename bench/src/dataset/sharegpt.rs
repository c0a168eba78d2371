//! vLLM's `sharegpt` dataset from a ShareGPT JSON file the user supplies (e.g.
//! `ShareGPT_V3_unfiltered_cleaned_split.json`): conversations with at least two turns, the first turn
//! as the prompt and the second as the reference output, shuffled with the seed, then vLLM's filter —
//! prompt and output at least 4 tokens, prompt at most 1024, prompt + output at most 2048 — until
//! `count` are accepted. `--sharegpt-output-len` fixes the output length instead.

use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::{DatasetError, PromptTokenizer, SampleRequest};

#[derive(Deserialize)]
struct Conversation {
    #[serde(default)]
    conversations: Vec<Turn>,
}

#[derive(Deserialize)]
struct Turn {
    #[serde(default)]
    value: String,
}

/// vLLM's rule: too short to measure, or too long for a 2048-token context.
pub(crate) fn passes_filter(prompt_len: usize, output_len: usize) -> bool {
    prompt_len >= 4 && output_len >= 4 && prompt_len <= 1024 && prompt_len + output_len <= 2048
}

pub fn build(
    path: &Path,
    count: usize,
    fixed_output_len: Option<u32>,
    tokenizer: &dyn PromptTokenizer,
    seed: u64,
) -> Result<Vec<SampleRequest>, DatasetError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::Io(name.clone(), e))?;
    let conversations: Vec<Conversation> = serde_json::from_str(&text).map_err(|e| DatasetError::Parse(name.clone(), e))?;
    from_conversations(conversations, &name, count, fixed_output_len, tokenizer, seed)
}

fn from_conversations(
    conversations: Vec<Conversation>,
    name: &str,
    count: usize,
    fixed_output_len: Option<u32>,
    tokenizer: &dyn PromptTokenizer,
    seed: u64,
) -> Result<Vec<SampleRequest>, DatasetError> {
    if fixed_output_len == Some(0) {
        return Err(DatasetError::Invalid("--sharegpt-output-len must be at least 1".into()));
    }
    let mut pairs: Vec<(String, String)> = conversations
        .into_iter()
        .filter(|c| c.conversations.len() >= 2)
        .map(|mut c| {
            let completion = std::mem::take(&mut c.conversations[1].value);
            (std::mem::take(&mut c.conversations[0].value), completion)
        })
        .collect();
    pairs.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut out = Vec::with_capacity(count);
    for (prompt, completion) in pairs {
        if out.len() == count {
            break;
        }
        let prompt_len = tokenizer.encode(&prompt).len();
        let output_len = match fixed_output_len {
            Some(n) => n as usize,
            None => tokenizer.encode(&completion).len(),
        };
        // A fixed output length is the user's choice: vLLM skips the length filter then.
        if fixed_output_len.is_none() && !passes_filter(prompt_len, output_len) {
            continue;
        }
        out.push(SampleRequest { prompt, prompt_len: prompt_len as u64, output_len: output_len as u32 });
    }
    if out.len() < count {
        return Err(DatasetError::TooFew { path: name.to_string(), found: out.len(), wanted: count });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::test_tokenizer::WordTokenizer;

    fn words(n: usize) -> String {
        (0..n).map(|i| format!("w{}", i % 400 + 1)).collect::<Vec<_>>().join(" ")
    }

    fn file(entries: &[(usize, usize, usize)]) -> tempfile::NamedTempFile {
        // (prompt words, reply words, extra turns)
        let json: Vec<serde_json::Value> = entries
            .iter()
            .map(|&(p, r, extra)| {
                let mut turns = vec![serde_json::json!({"from": "human", "value": words(p)})];
                if r > 0 {
                    turns.push(serde_json::json!({"from": "gpt", "value": words(r)}));
                }
                for _ in 0..extra {
                    turns.push(serde_json::json!({"from": "human", "value": words(9)}));
                }
                serde_json::json!({"id": "x", "conversations": turns})
            })
            .collect();
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), serde_json::to_string(&json).unwrap()).unwrap();
        f
    }

    #[test]
    fn applies_vllms_filter() {
        let t = WordTokenizer::new();
        // Kept: (10, 20), (1024, 1024), (4, 4) with extra turns. Dropped: one turn only, prompt 3,
        // reply 3, prompt 1025, prompt + reply 2049.
        let f = file(&[(10, 20, 0), (5, 0, 0), (3, 50, 0), (50, 3, 0), (1025, 10, 0), (1000, 1049, 0), (1024, 1024, 0), (4, 4, 3)]);
        let got = build(f.path(), 3, None, &t, 0).unwrap();
        let mut lens: Vec<_> = got.iter().map(|r| (r.prompt_len, r.output_len)).collect();
        lens.sort();
        assert_eq!(lens, vec![(4, 4), (10, 20), (1024, 1024)]);
        let err = build(f.path(), 4, None, &t, 0).unwrap_err().to_string();
        assert!(err.contains("only 3 conversations") && err.contains("4 were asked for"), "{err}");
    }

    #[test]
    fn shuffled_by_seed_and_fixed_output_len() {
        let t = WordTokenizer::new();
        let f = file(&(5..45).map(|i| (i, 10, 0)).collect::<Vec<_>>());
        let a = build(f.path(), 10, None, &t, 1).unwrap();
        assert_eq!(a, build(f.path(), 10, None, &t, 1).unwrap());
        assert_ne!(a, build(f.path(), 10, None, &t, 2).unwrap());
        let fixed = build(f.path(), 10, Some(256), &t, 1).unwrap();
        assert!(fixed.iter().all(|r| r.output_len == 256));
    }

    #[test]
    fn unreadable_and_malformed_files_are_named() {
        let t = WordTokenizer::new();
        let err = build(Path::new("/nonexistent/sg.json"), 1, None, &t, 0).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/sg.json"), "{err}");
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), "{\"not\": \"a list\"}").unwrap();
        let err = build(f.path(), 1, None, &t, 0).unwrap_err().to_string();
        assert!(err.contains("is not a ShareGPT JSON file"), "{err}");
    }
}

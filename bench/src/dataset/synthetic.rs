//! `synthetic-sharegpt`: a deterministic workload shaped like ShareGPT after vLLM's filter, for machines
//! without the file. Prompt and output lengths are log-normal (prompt μ 4.92 σ 1.2, output μ 4.80
//! σ 0.9, in tokens), rejected by the same rules vLLM applies to ShareGPT (each ≥ 4 tokens, prompt
//! ≤ 1024, prompt + output ≤ 2048); the constants were fitted so the accepted means are ≈ 202 prompt
//! and ≈ 179 output tokens, the averages of the ShareGPT workload in vLLM's v0.6.0 benchmark (medians
//! ≈ 128 / 121: long tails, like the real set). Prompts are English-like sentences from a fixed word
//! list, fitted to the drawn token count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::words::sentence_text;
use super::{fit_to_tokens, DatasetError, PromptTokenizer, SampleRequest};

const PROMPT_MU: f64 = 4.92;
const PROMPT_SIGMA: f64 = 1.2;
const OUTPUT_MU: f64 = 4.80;
const OUTPUT_SIGMA: f64 = 0.9;

/// (prompt, output) token lengths, drawn until one passes vLLM's ShareGPT filter.
pub(crate) fn draw_lengths(rng: &mut ChaCha8Rng) -> (u32, u32) {
    let prompt = LogNormal::new(PROMPT_MU, PROMPT_SIGMA).expect("valid log-normal");
    let output = LogNormal::new(OUTPUT_MU, OUTPUT_SIGMA).expect("valid log-normal");
    loop {
        let p = prompt.sample(rng).round();
        let o = output.sample(rng).round();
        if p >= 4.0 && o >= 4.0 && p <= 1024.0 && p + o <= 2048.0 {
            return (p as u32, o as u32);
        }
    }
}

pub fn build(count: usize, tokenizer: &dyn PromptTokenizer, seed: u64) -> Result<Vec<SampleRequest>, DatasetError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Ok((0..count)
        .map(|i| {
            let (prompt_target, output_len) = draw_lengths(&mut rng);
            let text_seed: u64 = rng.gen();
            let mut text_rng = ChaCha8Rng::seed_from_u64(text_seed);
            let start = format!("Request {i}. ");
            let ids = tokenizer.encode(&(start + &sentence_text(&mut text_rng, prompt_target as usize)));
            let (prompt, prompt_len) = fit_to_tokens(tokenizer, ids, prompt_target as usize, &mut || {
                tokenizer.encode(&sentence_text(&mut text_rng, 16))
            });
            SampleRequest { prompt, prompt_len, output_len }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::test_tokenizer::WordTokenizer;

    #[test]
    fn length_distribution_matches_sharegpt_means() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let n = 20_000;
        let (mut p, mut o) = (0.0, 0.0);
        for _ in 0..n {
            let (a, b) = draw_lengths(&mut rng);
            assert!(a >= 4 && b >= 4 && a <= 1024 && a + b <= 2048);
            p += a as f64;
            o += b as f64;
        }
        let (p, o) = (p / n as f64, o / n as f64);
        assert!((p - 202.0).abs() < 202.0 * 0.04, "mean prompt {p}");
        assert!((o - 179.0).abs() < 179.0 * 0.04, "mean output {o}");
    }

    #[test]
    fn prompts_have_the_drawn_length_and_are_reproducible() {
        let t = WordTokenizer::new();
        let a = build(50, &t, 9).unwrap();
        assert_eq!(a, build(50, &t, 9).unwrap());
        assert!(a.iter().all(|r| t.encode(&r.prompt).len() as u64 == r.prompt_len && r.prompt_len >= 4));
        let distinct: std::collections::HashSet<_> = a.iter().map(|r| &r.prompt).collect();
        assert_eq!(distinct.len(), 50, "every prompt differs (no accidental prefix caching)");
    }
}

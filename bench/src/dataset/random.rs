//! vLLM's `random` dataset: prompt and output lengths uniform in
//! [⌊len·(1 − r)⌋, ⌈len·(1 + r)⌉] (r = `--range-ratio`, 0 = fixed lengths), prompts made of random
//! non-special vocabulary tokens decoded to text and fitted back to the drawn length.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{fit_to_tokens, DatasetError, PromptTokenizer, SampleRequest};

/// Draws a length uniformly within the range ratio (at least 1).
pub(crate) fn draw_len(rng: &mut ChaCha8Rng, len: u32, range_ratio: f64) -> u32 {
    let lo = ((len as f64) * (1.0 - range_ratio)).floor().max(1.0) as u32;
    let hi = ((len as f64) * (1.0 + range_ratio)).ceil().max(lo as f64) as u32;
    rng.gen_range(lo..=hi)
}

/// The ids random prompts are drawn from: every token that is not special and whose text has no
/// control character (byte-level vocabularies have tokens for bytes 0x00–0x1F, which servers rightly
/// refuse in prompts).
pub(crate) struct TokenPool(Vec<u32>);

impl TokenPool {
    pub(crate) fn new(tokenizer: &dyn PromptTokenizer) -> Result<TokenPool, DatasetError> {
        let ids: Vec<u32> = (0..tokenizer.vocab_size() as u32)
            .filter(|&id| !tokenizer.is_special(id))
            .filter(|&id| {
                let text = tokenizer.decode(&[id]);
                !text.is_empty() && !text.chars().any(is_unwanted_control)
            })
            .collect();
        if ids.is_empty() {
            return Err(DatasetError::Invalid("the tokenizer has no ordinary tokens to build random prompts from".into()));
        }
        Ok(TokenPool(ids))
    }

    /// `count` ids drawn uniformly from the pool.
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng, count: usize) -> Vec<u32> {
        (0..count).map(|_| self.0[rng.gen_range(0..self.0.len())]).collect()
    }
}

/// Control characters other than tab, newline and carriage return.
pub(crate) fn is_unwanted_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

pub fn build(
    count: usize,
    input_len: u32,
    output_len: u32,
    range_ratio: f64,
    tokenizer: &dyn PromptTokenizer,
    seed: u64,
) -> Result<Vec<SampleRequest>, DatasetError> {
    if !(0.0..1.0).contains(&range_ratio) {
        return Err(DatasetError::Invalid(format!("--range-ratio must be in [0, 1), got {range_ratio}")));
    }
    if input_len == 0 || output_len == 0 {
        return Err(DatasetError::Invalid("--input-len and --output-len must be at least 1".into()));
    }
    let pool = TokenPool::new(tokenizer)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Ok((0..count)
        .map(|_| {
            let prompt_target = draw_len(&mut rng, input_len, range_ratio) as usize;
            let out = draw_len(&mut rng, output_len, range_ratio);
            let ids = pool.sample(&mut rng, prompt_target);
            let (prompt, prompt_len) = fit_to_tokens(tokenizer, ids, prompt_target, &mut || pool.sample(&mut rng, 8));
            SampleRequest { prompt, prompt_len, output_len: out }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::test_tokenizer::WordTokenizer;

    #[test]
    fn fixed_lengths_with_zero_range_ratio() {
        let t = WordTokenizer::new();
        let reqs = build(20, 32, 16, 0.0, &t, 1).unwrap();
        assert!(reqs.iter().all(|r| r.prompt_len == 32 && r.output_len == 16 && t.encode(&r.prompt).len() == 32));
        assert!(!reqs.iter().any(|r| r.prompt.contains("<s>")), "special tokens are never sampled");
        assert_eq!(reqs, build(20, 32, 16, 0.0, &t, 1).unwrap(), "same seed, same prompts");
        assert_ne!(reqs, build(20, 32, 16, 0.0, &t, 2).unwrap());
    }

    #[test]
    fn lengths_stay_within_the_range_ratio() {
        let t = WordTokenizer::new();
        let reqs = build(400, 100, 50, 0.5, &t, 3).unwrap();
        assert!(reqs.iter().all(|r| (50..=150).contains(&r.prompt_len) && (25..=75).contains(&r.output_len)));
        let mean = reqs.iter().map(|r| r.prompt_len as f64).sum::<f64>() / 400.0;
        assert!((mean - 100.0).abs() < 6.0, "mean prompt length {mean}");
    }

    #[test]
    fn control_characters_never_reach_a_prompt() {
        let t = WordTokenizer::new();
        // Word 7 is a control character in this vocabulary: it must never be drawn.
        struct WithControl(WordTokenizer);
        impl PromptTokenizer for WithControl {
            fn encode(&self, text: &str) -> Vec<u32> {
                self.0.encode(text)
            }
            fn decode(&self, ids: &[u32]) -> String {
                ids.iter().map(|&i| if i == 7 { "\u{18}".to_string() } else { self.0.decode(&[i]) }).collect::<Vec<_>>().join(" ")
            }
            fn vocab_size(&self) -> usize {
                self.0.vocab_size()
            }
            fn is_special(&self, id: u32) -> bool {
                self.0.is_special(id)
            }
        }
        let reqs = build(50, 64, 4, 0.0, &WithControl(t), 0).unwrap();
        assert!(reqs.iter().all(|r| !r.prompt.chars().any(is_unwanted_control)));
    }

    #[test]
    fn bad_parameters_are_refused() {
        let t = WordTokenizer::new();
        assert!(build(1, 10, 10, 1.0, &t, 0).unwrap_err().to_string().contains("--range-ratio"));
        assert!(build(1, 0, 10, 0.0, &t, 0).unwrap_err().to_string().contains("at least 1"));
    }
}

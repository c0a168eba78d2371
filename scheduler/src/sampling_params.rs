//! Per-request sampling parameters and their validation (OpenAI / vLLM semantics).
//!
//! Field meanings follow vLLM's `SamplingParams`: `temperature` 0 means greedy; `top_k` 0 means off;
//! `top_p` 1 and `min_p` 0 mean off; penalties are applied to logits before temperature. Validation
//! reports the field, the value and the allowed range. `logprobs` / `prompt_logprobs` follow the
//! OpenAI / vLLM meaning: the chosen (or prompt) token's log-probability plus the `k` most likely
//! alternatives, `k` at most [`MAX_LOGPROBS`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Largest `logprobs` / `prompt_logprobs` accepted (OpenAI's `top_logprobs` limit).
pub const MAX_LOGPROBS: u32 = 20;

/// How to pick the next token, and when to stop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// Softmax temperature; 0 = greedy (argmax).
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = all.
    pub top_k: u32,
    /// Nucleus sampling: smallest set with cumulative probability ≥ top_p; 1 = off.
    pub top_p: f32,
    /// Drop tokens with probability < min_p · p(max); 0 = off.
    pub min_p: f32,
    /// Multiplicative penalty on logits of tokens seen in the prompt or output (>1 discourages); 1 = off.
    pub repetition_penalty: f32,
    /// Subtracted once per occurrence of a token in the output; 0 = off.
    pub frequency_penalty: f32,
    /// Subtracted once if a token occurs in the output at all; 0 = off.
    pub presence_penalty: f32,
    /// Added to the logits of the given token ids (OpenAI `logit_bias`, −100..100).
    pub logit_bias: BTreeMap<u32, f32>,
    /// RNG seed; the same seed and inputs give the same tokens. `None` = fresh entropy.
    pub seed: Option<u64>,
    /// Maximum number of generated tokens.
    pub max_tokens: u32,
    /// Keep generating past EOS.
    pub ignore_eos: bool,
    /// Extra token ids that stop generation.
    pub stop_token_ids: Vec<u32>,
    /// Strings that stop generation (not included in the output).
    pub stop: Vec<String>,
    /// For every generated token, return its logprob and the `k` most likely alternatives
    /// (0 = only the chosen token); `None` = no logprobs.
    pub logprobs: Option<u32>,
    /// For every prompt token after the first, return its logprob given the tokens before it and
    /// the `k` most likely alternatives; `None` = none. Such a request takes no prefix-cache hits
    /// (every prompt position must run through the model).
    pub prompt_logprobs: Option<u32>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            logit_bias: BTreeMap::new(),
            seed: None,
            max_tokens: 256,
            ignore_eos: false,
            stop_token_ids: Vec::new(),
            stop: Vec::new(),
            logprobs: None,
            prompt_logprobs: None,
        }
    }
}

/// A parameter outside its allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} = {value} is invalid: {allowed}")]
pub struct SamplingParamsError {
    pub field: &'static str,
    pub value: String,
    pub allowed: String,
}

fn bad(field: &'static str, value: impl ToString, allowed: impl Into<String>) -> SamplingParamsError {
    SamplingParamsError { field, value: value.to_string(), allowed: allowed.into() }
}

impl SamplingParams {
    /// Greedy decoding for `max_tokens` tokens.
    pub fn greedy(max_tokens: u32) -> SamplingParams {
        SamplingParams { temperature: 0.0, max_tokens, ..Default::default() }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }

    /// Checks every field against its range; `vocab_size` bounds `logit_bias` and `stop_token_ids`.
    pub fn validate(&self, vocab_size: usize) -> Result<(), SamplingParamsError> {
        if !(self.temperature.is_finite() && (0.0..=100.0).contains(&self.temperature)) {
            return Err(bad("temperature", self.temperature, "must be between 0 and 100 (0 = greedy)"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(bad("top_p", self.top_p, "must be in (0, 1]"));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(bad("min_p", self.min_p, "must be in [0, 1]"));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty <= 10.0) {
            return Err(bad("repetition_penalty", self.repetition_penalty, "must be in (0, 10] (1 = off)"));
        }
        if !(-2.0..=2.0).contains(&self.frequency_penalty) {
            return Err(bad("frequency_penalty", self.frequency_penalty, "must be between -2 and 2"));
        }
        if !(-2.0..=2.0).contains(&self.presence_penalty) {
            return Err(bad("presence_penalty", self.presence_penalty, "must be between -2 and 2"));
        }
        for (&id, &b) in &self.logit_bias {
            if id as usize >= vocab_size {
                return Err(bad("logit_bias", id, format!("token ids must be < vocab size {vocab_size}")));
            }
            if !(-100.0..=100.0).contains(&b) {
                return Err(bad("logit_bias", b, "biases must be between -100 and 100"));
            }
        }
        if let Some(&id) = self.stop_token_ids.iter().find(|&&id| id as usize >= vocab_size) {
            return Err(bad("stop_token_ids", id, format!("token ids must be < vocab size {vocab_size}")));
        }
        if self.stop.iter().any(|s| s.is_empty()) {
            return Err(bad("stop", "\"\"", "stop strings must not be empty"));
        }
        for (field, value) in [("logprobs", self.logprobs), ("prompt_logprobs", self.prompt_logprobs)] {
            if let Some(k) = value.filter(|&k| k > MAX_LOGPROBS) {
                return Err(bad(field, k, format!("must be between 0 and {MAX_LOGPROBS}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        SamplingParams::default().validate(10).unwrap();
        SamplingParams::greedy(5).validate(10).unwrap();
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let p = SamplingParams { top_p: 0.0, ..Default::default() };
        assert_eq!(p.validate(10).unwrap_err().field, "top_p");
        let p = SamplingParams { temperature: f32::NAN, ..Default::default() };
        assert_eq!(p.validate(10).unwrap_err().field, "temperature");
        let mut p = SamplingParams::default();
        p.logit_bias.insert(10, 1.0);
        let e = p.validate(10).unwrap_err();
        assert_eq!(e.field, "logit_bias");
        assert!(e.to_string().contains("vocab size 10"), "{e}");
    }

    #[test]
    fn logprob_counts_are_bounded_and_name_their_field() {
        let p = SamplingParams { logprobs: Some(MAX_LOGPROBS), prompt_logprobs: Some(0), ..Default::default() };
        p.validate(10).unwrap();
        let e = SamplingParams { logprobs: Some(21), ..Default::default() }.validate(10).unwrap_err();
        assert_eq!(e.field, "logprobs");
        assert!(e.to_string().contains("20"), "{e}");
        let e = SamplingParams { prompt_logprobs: Some(21), ..Default::default() }.validate(10).unwrap_err();
        assert_eq!(e.field, "prompt_logprobs");
    }

    #[test]
    fn logprob_fields_default_to_none_in_json() {
        let p: SamplingParams = serde_json::from_str(r#"{"max_tokens": 3}"#).unwrap();
        assert_eq!((p.logprobs, p.prompt_logprobs), (None, None));
    }
}

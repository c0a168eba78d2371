//! Engine logprobs ([`TokenLogprob`]) in OpenAI's two response shapes: chat's
//! `{"content": [{"token", "logprob", "bytes", "top_logprobs"}]}` and the legacy completions'
//! parallel arrays `{"tokens", "token_logprobs", "top_logprobs", "text_offset"}`.
//!
//! A token's string is its byte-level piece decoded lossily (a piece that is part of a multi-byte
//! character shows U+FFFD; `bytes` carries the exact bytes, as OpenAI does for that case). As in
//! vLLM, the completions `top_logprobs` dictionary also holds the chosen token.

use std::collections::BTreeMap;

use llmserve_engine::TokenLogprob;
use llmserve_models::tokenizer::Tokenizer;

use crate::openai::{ChatLogprobs, ChatTokenLogprob, ChatTopLogprob, CompletionLogprobs};

fn token_string(tokenizer: &Tokenizer, id: u32) -> (String, Vec<u8>) {
    let bytes = tokenizer.token_to_piece_bytes(id);
    (String::from_utf8_lossy(&bytes).into_owned(), bytes)
}

/// Chat logprobs of generated tokens.
pub fn chat_logprobs(tokenizer: &Tokenizer, logprobs: &[TokenLogprob]) -> ChatLogprobs {
    let content = logprobs
        .iter()
        .map(|lp| {
            let (token, bytes) = token_string(tokenizer, lp.token_id);
            let top_logprobs = lp
                .top
                .iter()
                .map(|&(id, logprob)| {
                    let (token, bytes) = token_string(tokenizer, id);
                    ChatTopLogprob { token, logprob, bytes }
                })
                .collect();
            ChatTokenLogprob { token, logprob: lp.logprob, bytes, top_logprobs }
        })
        .collect();
    ChatLogprobs { content }
}

/// Builds completions logprobs position by position; `text_offset` counts characters from the
/// start of the choice's text.
#[derive(Default)]
pub struct CompletionLogprobsBuilder {
    pub logprobs: CompletionLogprobs,
    offset: usize,
}

impl CompletionLogprobsBuilder {
    /// A builder whose first token starts at character `offset` of the choice's text.
    pub fn starting_at(offset: usize) -> Self {
        CompletionLogprobsBuilder { logprobs: CompletionLogprobs::default(), offset }
    }

    fn push_token(&mut self, tokenizer: &Tokenizer, id: u32) {
        let (token, _) = token_string(tokenizer, id);
        self.logprobs.text_offset.push(self.offset);
        self.offset += token.chars().count();
        self.logprobs.tokens.push(token);
    }

    fn top_map(tokenizer: &Tokenizer, lp: &TokenLogprob) -> BTreeMap<String, f32> {
        let mut map: BTreeMap<String, f32> = lp.top.iter().map(|&(id, p)| (token_string(tokenizer, id).0, p)).collect();
        map.entry(token_string(tokenizer, lp.token_id).0).or_insert(lp.logprob);
        map
    }

    /// Prompt positions: `prompt_ids[i]` with `logprobs[i]` (`None` for the first token).
    pub fn push_prompt(&mut self, tokenizer: &Tokenizer, prompt_ids: &[u32], logprobs: &[Option<TokenLogprob>]) {
        for (i, &id) in prompt_ids.iter().enumerate() {
            self.push_token(tokenizer, id);
            match logprobs.get(i).and_then(Option::as_ref) {
                Some(lp) => {
                    self.logprobs.token_logprobs.push(Some(lp.logprob));
                    self.logprobs.top_logprobs.push(Some(Self::top_map(tokenizer, lp)));
                }
                None => {
                    self.logprobs.token_logprobs.push(None);
                    self.logprobs.top_logprobs.push(None);
                }
            }
        }
    }

    /// Generated positions.
    pub fn push_generated(&mut self, tokenizer: &Tokenizer, logprobs: &[TokenLogprob]) {
        for lp in logprobs {
            self.push_token(tokenizer, lp.token_id);
            self.logprobs.token_logprobs.push(Some(lp.logprob));
            self.logprobs.top_logprobs.push(Some(Self::top_map(tokenizer, lp)));
        }
    }

    /// Takes what was built so far (streaming sends each chunk's positions separately) and keeps
    /// counting offsets from where it ended.
    pub fn take(&mut self) -> CompletionLogprobs {
        std::mem::take(&mut self.logprobs)
    }
}

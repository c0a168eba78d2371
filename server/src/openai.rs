//! OpenAI wire types: the request bodies we accept and the response bodies we send.
//!
//! Shapes follow OpenAI's API reference for `/v1/chat/completions`, `/v1/completions` and
//! `/v1/models` (and vLLM's extensions that OpenAI lacks: `top_k`, `min_p`, `repetition_penalty`,
//! `stop_token_ids`, `ignore_eos`). Request structs deny unknown fields: a field we do not honour is
//! a 400 naming it, never silently ignored. Every optional field accepts `null`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `stop`: one string or several.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum StopField {
    One(String),
    Many(Vec<String>),
}

impl StopField {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StopField::One(s) => vec![s],
            StopField::Many(v) => v,
        }
    }
}

/// `stream_options`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// Calls `$callback! { <head> ; <the sampling fields both generation routes share> }`: the one
/// list of those fields. (`#[serde(flatten)]` would drop `deny_unknown_fields` and the field paths
/// of type errors, so the request structs repeat the fields through this macro instead.)
macro_rules! with_sampling_fields {
    ($callback:ident! { $($head:tt)* }) => {
        $callback! { $($head)* ;
            temperature: Option<f32>,
            top_p: Option<f32>,
            /// vLLM: 0 or -1 = off.
            top_k: Option<i64>,
            min_p: Option<f32>,
            n: Option<u32>,
            seed: Option<i64>,
            stop: Option<StopField>,
            stop_token_ids: Option<Vec<u32>>,
            presence_penalty: Option<f32>,
            frequency_penalty: Option<f32>,
            repetition_penalty: Option<f32>,
            /// Token id (as a string, OpenAI's encoding) → bias in −100..100.
            logit_bias: Option<BTreeMap<String, f32>>,
            ignore_eos: Option<bool>,
            user: Option<String>,
            stream: Option<bool>,
            stream_options: Option<StreamOptions>,
        }
    };
}

/// Defines `SamplingFields` from the shared list.
macro_rules! sampling_fields_struct {
    (; $($(#[$sm:meta])* $sf:ident: $st:ty,)*) => {
        /// Sampling fields shared by both generation routes.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct SamplingFields {
            $($(#[$sm])* pub $sf: $st,)*
        }
    };
}

/// Defines a request struct with its own fields plus the shared ones, and `sampling()`.
macro_rules! generation_request {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident: $t:ty,)* } ; $($(#[$sm:meta])* $sf:ident: $st:ty,)*) => {
        $(#[$m])*
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            $($(#[$sm])* pub $sf: $st,)*
        }

        impl $name {
            /// The sampling fields shared by both routes.
            pub fn sampling(&self) -> SamplingFields {
                SamplingFields { $($sf: Clone::clone(&self.$sf),)* }
            }
        }
    };
}

with_sampling_fields!(sampling_fields_struct! {});

with_sampling_fields!(generation_request! {
    /// `POST /v1/chat/completions` body.
    #[derive(Clone, Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    ChatCompletionRequest {
        model: Option<String>,
        messages: Vec<ChatMessageIn>,
        max_tokens: Option<u32>,
        max_completion_tokens: Option<u32>,
        /// Return the chosen tokens' logprobs.
        logprobs: Option<bool>,
        /// With `logprobs`: how many alternatives per position (0–20).
        top_logprobs: Option<u32>,
    }
});

with_sampling_fields!(generation_request! {
    /// `POST /v1/completions` body.
    #[derive(Clone, Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    CompletionRequest {
        model: Option<String>,
        prompt: PromptInput,
        max_tokens: Option<u32>,
        /// Return the prompt (and, with `logprobs`, its logprobs) before the completion.
        echo: Option<bool>,
        /// Alternatives per position (0–20); `0` = only the chosen tokens' logprobs.
        logprobs: Option<u32>,
    }
});

/// `prompt`: a string, several strings, token ids, or several token-id lists.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PromptInput {
    Text(String),
    Tokens(Vec<u32>),
    Texts(Vec<String>),
    TokenLists(Vec<Vec<u32>>),
}

/// One chat message as sent.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChatMessageIn {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
    #[serde(default)]
    pub name: Option<String>,
    /// On `tool` messages: which call this answers (kept for the template's sake).
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

/// Message content: a string or an array of typed parts.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One content part; only `{"type": "text", "text": ...}` is supported (checked in validation so the
/// error can name the part).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// `usage`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct UsageBody {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
    pub prompt_tokens_details: PromptTokensDetails,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PromptTokensDetails {
    pub cached_tokens: usize,
}

impl UsageBody {
    pub fn new(prompt_tokens: usize, completion_tokens: usize, cached_tokens: usize) -> UsageBody {
        UsageBody {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptTokensDetails { cached_tokens },
        }
    }
}

/// The assistant's message in a non-streamed chat choice.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AssistantMessage {
    pub role: &'static str,
    pub content: String,
}

/// One alternative in chat logprobs.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChatTopLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
}

/// One position in chat logprobs.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChatTokenLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    pub top_logprobs: Vec<ChatTopLogprob>,
}

/// Chat `logprobs`: `{"content": [...]}`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ChatLogprobs {
    pub content: Vec<ChatTokenLogprob>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChatChoice {
    pub index: usize,
    pub message: AssistantMessage,
    pub logprobs: Option<ChatLogprobs>,
    pub finish_reason: Option<&'static str>,
}

/// Non-streamed chat response.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChatCompletionResponse {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub system_fingerprint: String,
    pub choices: Vec<ChatChoice>,
    pub usage: UsageBody,
}

/// `delta` of a streamed chat chunk.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ChatDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChatChunkChoice {
    pub index: usize,
    pub delta: ChatDelta,
    pub logprobs: Option<ChatLogprobs>,
    pub finish_reason: Option<&'static str>,
}

/// One streamed chat chunk (`chat.completion.chunk`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub system_fingerprint: String,
    pub choices: Vec<ChatChunkChoice>,
    /// Present (as `null` until the last chunk) only with `stream_options.include_usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<UsageBody>>,
}

/// Completion `logprobs` (the legacy shape): parallel arrays over tokens.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CompletionLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<Option<f32>>,
    pub top_logprobs: Vec<Option<BTreeMap<String, f32>>>,
    pub text_offset: Vec<usize>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CompletionChoice {
    pub index: usize,
    pub text: String,
    pub logprobs: Option<CompletionLogprobs>,
    pub finish_reason: Option<&'static str>,
}

/// Completion response, and each streamed completion chunk (same object, partial choices).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CompletionResponse {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub system_fingerprint: String,
    pub choices: Vec<CompletionChoice>,
    /// Always present on a non-streamed response; on chunks only with `include_usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<UsageBody>>,
}

/// One entry of `GET /v1/models`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ModelCard {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
    /// vLLM's extension: the context length requests are checked against.
    pub max_model_len: usize,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelCard>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_forms_parse() {
        let p: PromptInput = serde_json::from_str(r#""hi""#).unwrap();
        assert_eq!(p, PromptInput::Text("hi".into()));
        let p: PromptInput = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(p, PromptInput::Tokens(vec![1, 2]));
        let p: PromptInput = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(p, PromptInput::Texts(vec!["a".into(), "b".into()]));
        let p: PromptInput = serde_json::from_str("[[1],[2,3]]").unwrap();
        assert_eq!(p, PromptInput::TokenLists(vec![vec![1], vec![2, 3]]));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<ChatCompletionRequest>(r#"{"messages":[],"tools":[]}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `tools`"), "{e}");
    }

    #[test]
    fn usage_chunk_shape() {
        let chunk = ChatCompletionChunk {
            id: "c".into(),
            object: "chat.completion.chunk",
            created: 1,
            model: "m".into(),
            system_fingerprint: "f".into(),
            choices: vec![],
            usage: Some(None),
        };
        assert_eq!(serde_json::to_value(&chunk).unwrap()["usage"], serde_json::Value::Null);
        let chunk = ChatCompletionChunk { usage: None, ..chunk };
        assert!(serde_json::to_value(&chunk).unwrap().get("usage").is_none());
    }
}

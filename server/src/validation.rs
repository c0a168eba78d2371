//! From OpenAI request bodies to engine requests: model check, chat rendering, tokenization,
//! sampling parameters, and the context-length check — each failure a 400 naming the field.
//!
//! Defaults follow OpenAI (temperature 1, top_p 1, n 1; completions `max_tokens` 16) and vLLM where
//! OpenAI is silent (chat `max_tokens` = the rest of the context; `top_k` 0 / -1 = off). Chat text
//! is the model's own template rendered with `add_generation_prompt`; completions prompts are
//! tokenized as literal text (special-token spellings stay text), token-id prompts pass as given.

use std::collections::BTreeMap;

use llmserve_engine::EngineLimits;
use llmserve_models::chat_template::ChatMessage;
use llmserve_scheduler::SamplingParams;

use crate::error::ApiError;
use crate::safety::filter::InputText;
use crate::safety::isolation::{isolated_chat_tokens, IsolationError};
use crate::openai::{ChatMessageIn, MessageContent, PromptInput, SamplingFields};
use crate::state::AppState;

/// Roles a chat message may have.
const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool"];

/// Runs request preparation that can take CPU time (template rendering, tokenizing up to the body
/// limit of text) on tokio's blocking pool, so it never stalls the async workers that stream other
/// requests' tokens. A panic in it is a server bug: 500 naming the request.
pub async fn off_the_runtime<T: Send + 'static>(
    request_id: &str,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ApiError::Engine { request_id: request_id.to_string(), message: format!("request preparation failed: {e}") })
    })
}

/// `model` must be absent or the served model's id.
pub fn check_model(state: &AppState, requested: Option<&str>) -> Result<(), ApiError> {
    match requested {
        Some(m) if m != state.config.model_id => {
            Err(ApiError::ModelNotFound { requested: m.to_string(), served: state.config.model_id.clone() })
        }
        _ => Ok(()),
    }
}

/// The conversation in the form the chat template takes. `developer` (OpenAI's newer name for
/// `system`) becomes `system`; text parts are joined with newlines.
pub fn chat_messages(messages: &[ChatMessageIn]) -> Result<Vec<ChatMessage>, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid("messages", "`messages` must contain at least one message"));
    }
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        if !ROLES.contains(&m.role.as_str()) {
            return Err(ApiError::invalid(
                format!("messages[{i}].role"),
                format!("unsupported role `{}`; expected one of {}", m.role, ROLES.join(", ")),
            ));
        }
        let content = match &m.content {
            Some(MessageContent::Text(t)) => t.clone(),
            Some(MessageContent::Parts(parts)) => {
                let mut texts = Vec::with_capacity(parts.len());
                for (j, part) in parts.iter().enumerate() {
                    match (part.kind.as_str(), &part.text) {
                        ("text", Some(t)) => texts.push(t.as_str()),
                        ("text", None) => {
                            return Err(ApiError::invalid(format!("messages[{i}].content[{j}].text"), "a text part needs `text`"))
                        }
                        (other, _) => {
                            return Err(ApiError::invalid(
                                format!("messages[{i}].content[{j}].type"),
                                format!("content part type `{other}` is not supported; only `text` parts are"),
                            ))
                        }
                    }
                }
                texts.join("\n")
            }
            None if m.role == "assistant" => String::new(),
            None => return Err(ApiError::invalid(format!("messages[{i}].content"), "`content` is required for this role")),
        };
        let role = if m.role == "developer" { "system" } else { m.role.as_str() };
        out.push(ChatMessage::new(role, content));
    }
    Ok(out)
}

/// Renders and tokenizes a chat request; special tokens come only from the template, never from
/// message content (see [`crate::safety::isolation`]).
pub fn chat_prompt(state: &AppState, messages: &[ChatMessage]) -> Result<Vec<u32>, ApiError> {
    let template = state.chat_template.as_ref().ok_or_else(|| {
        ApiError::invalid("messages", "this model has no chat template; use /v1/completions with a raw prompt")
    })?;
    isolated_chat_tokens(template, &state.tokenizer, messages).map_err(|e| match e {
        IsolationError::CannotIsolate { message, .. } => ApiError::invalid(format!("messages[{message}].content"), e.to_string()),
        other => ApiError::invalid("messages", other.to_string()),
    })
}

/// The caller-written texts of a chat request, as the safety chain sees them.
pub fn chat_input_texts(messages: &[ChatMessage]) -> Vec<InputText> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| InputText { param: format!("messages[{i}].content"), role: Some(m.role.clone()), text: m.content.clone() })
        .collect()
}

/// One prompt of a completions request: its text when given as text, and its tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptTokens {
    pub text: Option<String>,
    pub token_ids: Vec<u32>,
}

/// Tokenizes every prompt of a completions request (token ids are checked against the vocabulary).
pub fn completion_prompts(state: &AppState, prompt: &PromptInput, limits: &EngineLimits) -> Result<Vec<PromptTokens>, ApiError> {
    let encode = |text: &str| -> Result<PromptTokens, ApiError> {
        let token_ids = state.tokenizer.encode(text, false).map_err(|e| ApiError::invalid("prompt", e.to_string()))?;
        Ok(PromptTokens { text: Some(text.to_string()), token_ids })
    };
    let prompts: Vec<PromptTokens> = match prompt {
        PromptInput::Text(t) => vec![encode(t)?],
        PromptInput::Texts(ts) => ts.iter().map(|t| encode(t)).collect::<Result<_, _>>()?,
        PromptInput::Tokens(ids) => vec![PromptTokens { text: None, token_ids: ids.clone() }],
        PromptInput::TokenLists(lists) => lists.iter().map(|ids| PromptTokens { text: None, token_ids: ids.clone() }).collect(),
    };
    if prompts.is_empty() {
        return Err(ApiError::invalid("prompt", "`prompt` must contain at least one prompt"));
    }
    for (i, p) in prompts.iter().enumerate() {
        if p.token_ids.is_empty() {
            return Err(ApiError::invalid("prompt", format!("prompt {i} is empty (it encodes to zero tokens)")));
        }
        if let Some(&bad) = p.token_ids.iter().find(|&&id| id as usize >= limits.vocab_size) {
            return Err(ApiError::invalid("prompt", format!("prompt {i}: token id {bad} is outside the vocabulary of {}", limits.vocab_size)));
        }
    }
    Ok(prompts)
}

/// `max_tokens` for a prompt of `prompt_len`: the requested value, or `default` (`None` = the rest
/// of the context), checked against the context length with both numbers in the error.
pub fn max_tokens_for(requested: Option<u32>, default: Option<u32>, prompt_len: usize, limits: &EngineLimits) -> Result<u32, ApiError> {
    let room = limits.max_model_len.saturating_sub(prompt_len);
    let max_tokens = match requested {
        Some(m) => m,
        None => default.map_or(room, |d| (d as usize).min(room)) as u32,
    };
    if prompt_len + max_tokens as usize > limits.max_model_len || (requested.is_none() && room == 0) {
        // A prompt that fills the context leaves no room for even one token.
        let max_tokens = (max_tokens as usize).max(1);
        return Err(ApiError::ContextLengthExceeded {
            prompt_tokens: prompt_len,
            max_tokens,
            requested: prompt_len + max_tokens,
            limit: limits.max_model_len,
        });
    }
    Ok(max_tokens)
}

/// Sampling parameters from the request's fields (everything except `max_tokens` and logprobs,
/// which the routes set). Each bad value is a 400 naming its field.
pub fn sampling_params(f: &SamplingFields, vocab_size: usize) -> Result<SamplingParams, ApiError> {
    let top_k = match f.top_k {
        None | Some(0) | Some(-1) => 0,
        Some(k) if k > 0 && k <= u32::MAX as i64 => k as u32,
        Some(k) => return Err(ApiError::invalid("top_k", format!("top_k = {k} is invalid: use a positive number, or 0 / -1 for no limit"))),
    };
    let mut logit_bias = BTreeMap::new();
    for (key, &bias) in f.logit_bias.iter().flatten() {
        let id: u32 = key
            .parse()
            .map_err(|_| ApiError::invalid("logit_bias", format!("logit_bias key `{key}` is not a token id (a non-negative integer)")))?;
        logit_bias.insert(id, bias);
    }
    let params = SamplingParams {
        temperature: f.temperature.unwrap_or(1.0),
        top_k,
        top_p: f.top_p.unwrap_or(1.0),
        min_p: f.min_p.unwrap_or(0.0),
        repetition_penalty: f.repetition_penalty.unwrap_or(1.0),
        frequency_penalty: f.frequency_penalty.unwrap_or(0.0),
        presence_penalty: f.presence_penalty.unwrap_or(0.0),
        logit_bias,
        seed: f.seed.map(|s| s as u64),
        ignore_eos: f.ignore_eos.unwrap_or(false),
        stop_token_ids: f.stop_token_ids.clone().unwrap_or_default(),
        stop: f.stop.clone().map(|s| s.into_vec()).unwrap_or_default(),
        ..SamplingParams::default()
    };
    params.validate(vocab_size).map_err(|e| ApiError::invalid(e.field, e.to_string()))?;
    Ok(params)
}

/// `n`, checked against the engine's limit.
pub fn sample_count(n: Option<u32>, limits: &EngineLimits) -> Result<usize, ApiError> {
    let n = n.unwrap_or(1) as usize;
    if n == 0 || n > limits.max_samples_per_request {
        return Err(ApiError::invalid("n", format!("n = {n} is invalid: must be between 1 and {}", limits.max_samples_per_request)));
    }
    Ok(n)
}

/// Logprob alternatives requested, checked against the limit (20, as OpenAI).
pub fn logprob_count(param: &str, k: Option<u32>) -> Result<Option<u32>, ApiError> {
    match k {
        Some(k) if k > llmserve_scheduler::MAX_LOGPROBS => Err(ApiError::invalid(
            param,
            format!("{param} = {k} is invalid: at most {} alternatives per token", llmserve_scheduler::MAX_LOGPROBS),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> EngineLimits {
        EngineLimits { vocab_size: 100, max_model_len: 50, block_size: 16, num_blocks: 10, max_samples_per_request: 4, has_tokenizer: true, supports_logprobs: true }
    }

    #[test]
    fn max_tokens_defaults_and_limits() {
        assert_eq!(max_tokens_for(None, None, 10, &limits()).unwrap(), 40);
        assert_eq!(max_tokens_for(None, Some(16), 10, &limits()).unwrap(), 16);
        assert_eq!(max_tokens_for(None, Some(16), 45, &limits()).unwrap(), 5);
        assert_eq!(max_tokens_for(Some(0), None, 10, &limits()).unwrap(), 0);
        let e = max_tokens_for(Some(41), None, 10, &limits()).unwrap_err();
        assert_eq!(e, ApiError::ContextLengthExceeded { prompt_tokens: 10, max_tokens: 41, requested: 51, limit: 50 });
        let e = max_tokens_for(None, None, 50, &limits()).unwrap_err();
        assert_eq!(e, ApiError::ContextLengthExceeded { prompt_tokens: 50, max_tokens: 1, requested: 51, limit: 50 });
    }

    #[test]
    fn bad_sampling_fields_name_themselves() {
        let f = SamplingFields { temperature: Some(-1.0), ..Default::default() };
        assert_eq!(sampling_params(&f, 100).unwrap_err().param(), Some("temperature"));
        let f = SamplingFields { top_k: Some(-5), ..Default::default() };
        assert_eq!(sampling_params(&f, 100).unwrap_err().param(), Some("top_k"));
        let f = SamplingFields { logit_bias: Some([("abc".to_string(), 1.0)].into()), ..Default::default() };
        assert_eq!(sampling_params(&f, 100).unwrap_err().param(), Some("logit_bias"));
        let f = SamplingFields { logit_bias: Some([("7".to_string(), 5.0)].into()), seed: Some(-1), ..Default::default() };
        let p = sampling_params(&f, 100).unwrap();
        assert_eq!(p.logit_bias[&7], 5.0);
        assert_eq!(p.seed, Some(u64::MAX));
        assert_eq!(sample_count(Some(5), &limits()).unwrap_err().param(), Some("n"));
        assert_eq!(logprob_count("top_logprobs", Some(21)).unwrap_err().param(), Some("top_logprobs"));
    }

    #[test]
    fn chat_messages_are_checked() {
        let msg = |role: &str, content: Option<MessageContent>| ChatMessageIn { role: role.into(), content, name: None, tool_call_id: None };
        assert_eq!(chat_messages(&[]).unwrap_err().param(), Some("messages"));
        let e = chat_messages(&[msg("wizard", Some(MessageContent::Text("x".into())))]).unwrap_err();
        assert_eq!(e.param(), Some("messages[0].role"));
        let parts = vec![
            crate::openai::ContentPart { kind: "text".into(), text: Some("a".into()) },
            crate::openai::ContentPart { kind: "image_url".into(), text: None },
        ];
        let e = chat_messages(&[msg("user", Some(MessageContent::Parts(parts)))]).unwrap_err();
        assert_eq!(e.param(), Some("messages[0].content[1].type"));
        let parts = vec![
            crate::openai::ContentPart { kind: "text".into(), text: Some("a".into()) },
            crate::openai::ContentPart { kind: "text".into(), text: Some("b".into()) },
        ];
        let ok = chat_messages(&[msg("developer", Some(MessageContent::Parts(parts))), msg("assistant", None)]).unwrap();
        assert_eq!(ok[0].role, "system");
        assert_eq!(ok[0].content, "a\nb");
        assert_eq!(ok[1].content, "");
    }
}

//! `POST /v1/chat/completions`: validate (400 naming the field), render the model's chat template,
//! tokenize, check the context, admit (503 when full), submit `n` samples, then answer with one
//! `chat.completion` or stream `chat.completion.chunk`s (role first, content deltas, a final chunk
//! with `finish_reason`, the usage chunk when `stream_options.include_usage`, `[DONE]`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use llmserve_engine::{EngineRequest, StreamEvent};

use crate::error::ApiError;
use crate::generation::{ChoiceEvent, Generation};
use crate::logprobs::chat_logprobs;
use crate::otel::{self, Phase, RequestTrace};
use crate::openai::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ChatDelta,
    UsageBody,
};
use crate::access::RequestAccess;
use crate::routes::guard::{check_logprobs, reserve_tokens, screen_request};
use crate::routes::{new_request_id, ApiJson, RequestId};
use crate::sse::{self, StreamFormat};
use crate::state::{unix_now, AppState};
use crate::validation::{chat_input_texts, chat_messages, chat_prompt, logprob_count, max_tokens_for, off_the_runtime, sample_count, sampling_params};

/// Fields every response object of one request repeats.
#[derive(Clone)]
pub struct ResponseMeta {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub system_fingerprint: String,
}

impl ResponseMeta {
    pub fn new(state: &AppState, prefix: &str) -> ResponseMeta {
        ResponseMeta {
            id: format!("{prefix}-{}", new_request_id()),
            created: unix_now(),
            model: state.config.model_id.clone(),
            system_fingerprint: state.config.system_fingerprint.clone(),
        }
    }
}

/// `stream_options` is only valid on streamed requests; returns `include_usage`.
pub fn include_usage(stream: bool, options: Option<&crate::openai::StreamOptions>) -> Result<bool, ApiError> {
    match options {
        Some(_) if !stream => Err(ApiError::invalid("stream_options", "`stream_options` is only allowed when `stream` is true")),
        Some(o) => Ok(o.include_usage.unwrap_or(false)),
        None => Ok(false),
    }
}

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(access): Extension<RequestAccess>,
    trace: Option<Extension<RequestTrace>>,
    ApiJson(req): ApiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let received = Instant::now();
    let trace = trace.map(|Extension(t)| t);
    otel::request::set_request_model(trace.as_ref(), "chat", req.model.as_deref());
    let messages = chat_messages(&req.messages)?;
    let limits = state.engine.limits();
    let fields = req.sampling();
    let stream = fields.stream.unwrap_or(false);
    let include_usage = include_usage(stream, fields.stream_options.as_ref())?;
    let top_logprobs = match (req.logprobs.unwrap_or(false), req.top_logprobs) {
        (true, k) => logprob_count("top_logprobs", Some(k.unwrap_or(0)))?,
        (false, Some(_)) => return Err(ApiError::invalid("top_logprobs", "`top_logprobs` needs `logprobs: true`")),
        (false, None) => None,
    };
    check_logprobs(&access, top_logprobs.is_some(), "logprobs")?;
    let mut params = sampling_params(&fields, limits.vocab_size)?;
    let n = sample_count(fields.n, &limits)?;
    let (max_param, requested_max) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(m), _) => ("max_completion_tokens", Some(m)),
        (None, m) => ("max_tokens", m),
    };
    if requested_max == Some(0) {
        return Err(ApiError::invalid(max_param, format!("{max_param} = 0 is invalid on chat completions: at least 1")));
    }
    let safety = otel::phase(trace.as_ref(), Phase::SafetyInput);
    let recorder = screen_request(&state, &access, &request_id, req.model.as_deref(), &chat_input_texts(&messages)).await?;
    drop(safety);
    let tokenize = otel::phase(trace.as_ref(), Phase::Tokenize);
    let prompt = {
        let state = Arc::clone(&state);
        off_the_runtime(&request_id, move || chat_prompt(&state, &messages)).await?
    };
    params.max_tokens = max_tokens_for(requested_max, None, prompt.len(), &limits)?;
    drop(tokenize);
    otel::request::set_sampling(trace.as_ref(), n, params.max_tokens);
    params.logprobs = top_logprobs;
    let reservation = reserve_tokens(&state, &access, prompt.len() + n * params.max_tokens as usize)?;
    let permit = state.admit(n)?;
    let request = access.tag(EngineRequest::new(prompt, params).with_n(n));
    let mut generation = Generation::submit(&state, request_id, "chat", received, vec![request], permit, "messages")?
        .with_access(&access, recorder, reservation.commit())
        .with_trace(trace);
    let meta = ResponseMeta::new(&state, "chatcmpl");
    if stream {
        let format = ChatStream { meta, state: Arc::clone(&state), include_usage, logprobs: top_logprobs.is_some() };
        return Ok(sse::stream_generation(generation, format, include_usage));
    }
    if let Err(engine_failure) = generation.run_to_end().await {
        return Ok(engine_failure);
    }
    let choices = generation
        .choices
        .iter()
        .enumerate()
        .map(|(index, c)| ChatChoice {
            index,
            message: AssistantMessage { role: "assistant", content: c.text.clone() },
            logprobs: top_logprobs.map(|_| chat_logprobs(&state.tokenizer, &c.logprobs)),
            finish_reason: c.finish_reason.map(|r| r.as_str()),
        })
        .collect();
    let usage = generation.usage();
    generation.finish_log("ok");
    let body = ChatCompletionResponse {
        id: meta.id,
        object: "chat.completion",
        created: meta.created,
        model: meta.model,
        system_fingerprint: meta.system_fingerprint,
        choices,
        usage,
    };
    Ok(Json(body).into_response())
}

/// Chunk shapes of a streamed chat completion.
struct ChatStream {
    meta: ResponseMeta,
    state: Arc<AppState>,
    include_usage: bool,
    logprobs: bool,
}

impl ChatStream {
    fn chunk(&self, choices: Vec<ChatChunkChoice>, usage: Option<UsageBody>) -> Bytes {
        sse::data(&ChatCompletionChunk {
            id: self.meta.id.clone(),
            object: "chat.completion.chunk",
            created: self.meta.created,
            model: self.meta.model.clone(),
            system_fingerprint: self.meta.system_fingerprint.clone(),
            choices,
            usage: self.include_usage.then_some(usage),
        })
    }
}

impl StreamFormat for ChatStream {
    fn opening(&mut self, generation: &Generation) -> Vec<Bytes> {
        (0..generation.choices.len())
            .map(|index| {
                let delta = ChatDelta { role: Some("assistant"), content: Some(String::new()) };
                self.chunk(vec![ChatChunkChoice { index, delta, logprobs: None, finish_reason: None }], None)
            })
            .collect()
    }

    fn on_event(&mut self, _generation: &Generation, e: &ChoiceEvent) -> Vec<Bytes> {
        match &e.event {
            StreamEvent::Tokens { text, logprobs, .. } => {
                let logprobs = if self.logprobs { logprobs.as_deref().map(|lp| chat_logprobs(&self.state.tokenizer, lp)) } else { None };
                if text.is_empty() && logprobs.as_ref().is_none_or(|l| l.content.is_empty()) {
                    return Vec::new();
                }
                let delta = ChatDelta { role: None, content: Some(text.clone()) };
                vec![self.chunk(vec![ChatChunkChoice { index: e.choice, delta, logprobs, finish_reason: None }], None)]
            }
            StreamEvent::Finished { reason, .. } => {
                let choice = ChatChunkChoice { index: e.choice, delta: ChatDelta::default(), logprobs: None, finish_reason: Some(reason.as_str()) };
                vec![self.chunk(vec![choice], None)]
            }
            StreamEvent::PromptLogprobs { .. } | StreamEvent::Error { .. } => Vec::new(),
        }
    }

    fn usage_chunk(&self, usage: UsageBody) -> Bytes {
        self.chunk(Vec::new(), Some(usage))
    }
}

//! `POST /v1/completions` (the legacy text API): one or more prompts (text or token ids) × `n`
//! samples; `echo` returns the prompt before the completion and, with `logprobs`, the prompt's
//! logprobs too — with `max_tokens: 0` that is prompt scoring as lm-evaluation-harness uses it
//! (`loglikelihood` requests).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use llmserve_engine::{EngineRequest, StreamEvent};

use crate::error::ApiError;
use crate::generation::{ChoiceEvent, ChoiceState, Generation};
use crate::logprobs::CompletionLogprobsBuilder;
use crate::otel::{self, Phase, RequestTrace};
use crate::openai::{CompletionChoice, CompletionRequest, CompletionResponse, UsageBody};
use crate::routes::chat::{include_usage, ResponseMeta};
use crate::access::RequestAccess;
use crate::routes::guard::{check_logprobs, reserve_tokens, screen_request};
use crate::routes::{ApiJson, RequestId};
use crate::safety::filter::InputText;
use crate::sse::{self, StreamFormat};
use crate::state::AppState;
use crate::validation::{
    completion_prompts, logprob_count, max_tokens_for, off_the_runtime, sample_count, sampling_params, PromptTokens,
};

/// Per prompt: its token ids and the text `echo` returns.
struct EchoedPrompt {
    token_ids: Vec<u32>,
    text: String,
}

fn echoed_prompts(state: &AppState, prompts: &[PromptTokens]) -> Result<Vec<EchoedPrompt>, ApiError> {
    prompts
        .iter()
        .map(|p| {
            let text = match &p.text {
                Some(t) => t.clone(),
                None => state.tokenizer.decode(&p.token_ids, false).map_err(|e| ApiError::invalid("prompt", e.to_string()))?,
            };
            Ok(EchoedPrompt { token_ids: p.token_ids.clone(), text })
        })
        .collect()
}

pub async fn completions(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Extension(access): Extension<RequestAccess>,
    trace: Option<Extension<RequestTrace>>,
    ApiJson(req): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let received = Instant::now();
    let trace = trace.map(|Extension(t)| t);
    otel::request::set_request_model(trace.as_ref(), "text_completion", req.model.as_deref());
    let limits = state.engine.limits();
    let fields = req.sampling();
    let stream = fields.stream.unwrap_or(false);
    let include_usage = include_usage(stream, fields.stream_options.as_ref())?;
    let echo = req.echo.unwrap_or(false);
    let logprobs = logprob_count("logprobs", req.logprobs)?;
    check_logprobs(&access, logprobs.is_some(), "logprobs")?;
    let base_params = sampling_params(&fields, limits.vocab_size)?;
    let n = sample_count(fields.n, &limits)?;
    // Token-id prompts are decoded for the safety check, so here tokenizing comes first.
    let tokenize = otel::phase(trace.as_ref(), Phase::Tokenize);
    let prompts = {
        let (state, prompt) = (Arc::clone(&state), req.prompt.clone());
        off_the_runtime(&request_id, move || completion_prompts(&state, &prompt, &limits)).await?
    };
    drop(tokenize);
    let safety = otel::phase(trace.as_ref(), Phase::SafetyInput);
    let input = prompt_input_texts(&state, &prompts)?;
    let recorder = screen_request(&state, &access, &request_id, req.model.as_deref(), &input).await?;
    drop(safety);
    let mut requests = Vec::with_capacity(prompts.len());
    let mut reserved_tokens = 0;
    for p in &prompts {
        let mut params = base_params.clone();
        params.max_tokens =
            max_tokens_for(req.max_tokens, Some(state.config.default_completion_max_tokens), p.token_ids.len(), &limits)?;
        params.logprobs = logprobs;
        params.prompt_logprobs = if echo { logprobs } else { None };
        reserved_tokens += p.token_ids.len() + n * params.max_tokens as usize;
        requests.push(access.tag(EngineRequest::new(p.token_ids.clone(), params).with_n(n)));
    }
    let max_tokens = requests.iter().map(|r| r.sampling_params.max_tokens).max().unwrap_or(0);
    otel::request::set_sampling(trace.as_ref(), n, max_tokens);
    let echoed = if echo { echoed_prompts(&state, &prompts)? } else { Vec::new() };
    let reservation = reserve_tokens(&state, &access, reserved_tokens)?;
    let permit = state.admit(n * prompts.len())?;
    let mut generation = Generation::submit(&state, request_id, "completions", received, requests, permit, "prompt")?
        .with_access(&access, recorder, reservation.commit())
        .with_trace(trace);
    let meta = ResponseMeta::new(&state, "cmpl");
    if stream {
        let builders = (0..generation.choices.len())
            .map(|c| CompletionLogprobsBuilder::starting_at(echoed.get(c / n).map_or(0, |p| p.text.chars().count())))
            .collect();
        let format = CompletionStream { meta, state: Arc::clone(&state), include_usage, logprobs: logprobs.is_some(), echoed, builders };
        return Ok(sse::stream_generation(generation, format, include_usage));
    }
    if let Err(engine_failure) = generation.run_to_end().await {
        return Ok(engine_failure);
    }
    let choices = generation
        .choices
        .iter()
        .enumerate()
        .map(|(index, c)| completion_choice(&state, index, c, echoed.get(index / n), logprobs.is_some()))
        .collect();
    let usage = generation.usage();
    generation.finish_log("ok");
    let body = CompletionResponse {
        id: meta.id,
        object: "text_completion",
        created: meta.created,
        model: meta.model,
        system_fingerprint: meta.system_fingerprint,
        choices,
        usage: Some(Some(usage)),
    };
    Ok(Json(body).into_response())
}

/// The prompts as the safety chain sees them (token-id prompts decoded).
fn prompt_input_texts(state: &AppState, prompts: &[PromptTokens]) -> Result<Vec<InputText>, ApiError> {
    let single = prompts.len() == 1;
    prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let param = if single { "prompt".to_string() } else { format!("prompt[{i}]") };
            let text = match &p.text {
                Some(t) => t.clone(),
                None => state.tokenizer.decode(&p.token_ids, false).map_err(|e| ApiError::invalid(param.clone(), e.to_string()))?,
            };
            Ok(InputText { param, role: None, text })
        })
        .collect()
}

/// A whole (non-streamed) choice.
fn completion_choice(state: &AppState, index: usize, c: &ChoiceState, echo: Option<&EchoedPrompt>, logprobs: bool) -> CompletionChoice {
    let mut text = echo.map_or_else(String::new, |p| p.text.clone());
    text.push_str(&c.text);
    let logprobs = logprobs.then(|| {
        let mut builder = CompletionLogprobsBuilder::default();
        if let Some(p) = echo {
            builder.push_prompt(&state.tokenizer, &p.token_ids, c.prompt_logprobs.as_deref().unwrap_or(&[]));
        }
        builder.push_generated(&state.tokenizer, &c.logprobs);
        builder.take()
    });
    CompletionChoice { index, text, logprobs, finish_reason: c.finish_reason.map(|r| r.as_str()) }
}

/// Chunk shapes of a streamed completion.
struct CompletionStream {
    meta: ResponseMeta,
    state: Arc<AppState>,
    include_usage: bool,
    logprobs: bool,
    /// Per prompt (empty without `echo`).
    echoed: Vec<EchoedPrompt>,
    /// Per choice: logprob positions and text offsets so far.
    builders: Vec<CompletionLogprobsBuilder>,
}

impl CompletionStream {
    fn chunk(&self, choice: Option<CompletionChoice>, usage: Option<UsageBody>) -> Bytes {
        sse::data(&CompletionResponse {
            id: self.meta.id.clone(),
            object: "text_completion",
            created: self.meta.created,
            model: self.meta.model.clone(),
            system_fingerprint: self.meta.system_fingerprint.clone(),
            choices: choice.into_iter().collect(),
            usage: self.include_usage.then_some(usage),
        })
    }

    fn text_chunk(&self, index: usize, text: String, logprobs: Option<crate::openai::CompletionLogprobs>) -> Bytes {
        self.chunk(Some(CompletionChoice { index, text, logprobs, finish_reason: None }), None)
    }
}

impl StreamFormat for CompletionStream {
    fn opening(&mut self, generation: &Generation) -> Vec<Bytes> {
        // Echo without logprobs can go at once; with logprobs it waits for the prompt's logprobs.
        if self.echoed.is_empty() || self.logprobs {
            return Vec::new();
        }
        (0..generation.choices.len()).map(|c| self.text_chunk(c, self.echoed[c / generation.n].text.clone(), None)).collect()
    }

    fn on_event(&mut self, generation: &Generation, e: &ChoiceEvent) -> Vec<Bytes> {
        let tokenizer = Arc::clone(&self.state.tokenizer);
        match &e.event {
            StreamEvent::PromptLogprobs { logprobs, .. } => {
                let Some(prompt) = self.echoed.get(e.choice / generation.n) else { return Vec::new() };
                let (ids, text) = (prompt.token_ids.clone(), prompt.text.clone());
                let mut builder = CompletionLogprobsBuilder::default();
                builder.push_prompt(&tokenizer, &ids, logprobs);
                vec![self.text_chunk(e.choice, text, Some(builder.take()))]
            }
            StreamEvent::Tokens { text, logprobs, .. } => {
                let logprobs = match (self.logprobs, logprobs) {
                    (true, Some(lp)) => {
                        let builder = &mut self.builders[e.choice];
                        builder.push_generated(&tokenizer, lp);
                        Some(builder.take())
                    }
                    _ => None,
                };
                if text.is_empty() && logprobs.as_ref().is_none_or(|l| l.tokens.is_empty()) {
                    return Vec::new();
                }
                vec![self.text_chunk(e.choice, text.clone(), logprobs)]
            }
            StreamEvent::Finished { reason, .. } => {
                let choice = CompletionChoice { index: e.choice, text: String::new(), logprobs: None, finish_reason: Some(reason.as_str()) };
                vec![self.chunk(Some(choice), None)]
            }
            StreamEvent::Error { .. } => Vec::new(),
        }
    }

    fn usage_chunk(&self, usage: UsageBody) -> Bytes {
        self.chunk(None, Some(usage))
    }
}

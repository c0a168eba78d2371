//! `POST /tokenize` and `POST /detokenize` (vLLM's shapes): the token ids a prompt or a chat
//! conversation becomes — exactly what the generation routes would submit — and back.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::openai::ChatMessageIn;
use crate::routes::{ApiJson, RequestId};
use crate::state::AppState;
use crate::validation::{chat_messages, chat_prompt, check_model, off_the_runtime};

/// A text prompt (tokenized like `/v1/completions` text) or chat messages (rendered like
/// `/v1/chat/completions`), not both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenizeRequest {
    pub model: Option<String>,
    pub prompt: Option<String>,
    pub messages: Option<Vec<ChatMessageIn>>,
}

#[derive(Debug, Serialize)]
pub struct TokenizeResponse {
    pub count: usize,
    pub max_model_len: usize,
    pub tokens: Vec<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetokenizeRequest {
    pub model: Option<String>,
    pub tokens: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub struct DetokenizeResponse {
    pub prompt: String,
}

pub async fn tokenize(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    ApiJson(req): ApiJson<TokenizeRequest>,
) -> Result<Json<TokenizeResponse>, ApiError> {
    check_model(&state, req.model.as_deref())?;
    let worker_state = Arc::clone(&state);
    let tokens = off_the_runtime(&request_id, move || match (&req.prompt, &req.messages) {
        (Some(prompt), None) => worker_state.tokenizer.encode(prompt, false).map_err(|e| ApiError::invalid("prompt", e.to_string())),
        (None, Some(messages)) => chat_prompt(&worker_state, &chat_messages(messages)?),
        _ => Err(ApiError::invalid("prompt", "give exactly one of `prompt` (text) or `messages` (chat)")),
    })
    .await?;
    Ok(Json(TokenizeResponse { count: tokens.len(), max_model_len: state.engine.limits().max_model_len, tokens }))
}

pub async fn detokenize(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<DetokenizeRequest>,
) -> Result<Json<DetokenizeResponse>, ApiError> {
    check_model(&state, req.model.as_deref())?;
    let prompt = state.tokenizer.decode(&req.tokens, false).map_err(|e| ApiError::invalid("tokens", e.to_string()))?;
    Ok(Json(DetokenizeResponse { prompt }))
}

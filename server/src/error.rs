//! [`ApiError`]: every way a request can fail, mapped in ONE place to one HTTP status and OpenAI's
//! error body `{"error": {"message", "type", "param", "code"}}`.
//!
//! The types and codes follow OpenAI's API (`invalid_request_error`, `context_length_exceeded`,
//! `model_not_found`) and vLLM's server where OpenAI has no case (payload too large, overloaded).
//! Engine failures carry the request id so an operator can find the log line.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use llmserve_engine::EngineError;
use serde_json::json;

/// A failed API request. See the module documentation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, a missing / unknown / out-of-range field. `param` names the field.
    #[error("{message}")]
    InvalidRequest { message: String, param: Option<String> },
    /// Prompt + max_tokens exceed the model's context (or the KV cache).
    #[error("this model's maximum context length is {limit} tokens, but {requested} tokens were requested ({prompt_tokens} in the prompt, {max_tokens} for the completion); reduce the prompt or max_tokens")]
    ContextLengthExceeded { prompt_tokens: usize, max_tokens: usize, requested: usize, limit: usize },
    /// The `model` field names a model this server does not serve.
    #[error("the model `{requested}` does not exist; this server serves `{served}`")]
    ModelNotFound { requested: String, served: String },
    /// The body is larger than the configured limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The admission queue is full; the client should retry after `retry_after_s`.
    #[error("the server is overloaded: {in_flight} requests in flight (limit {limit}); retry later")]
    Overloaded { in_flight: usize, limit: usize, retry_after_s: u64 },
    /// The server is shutting down and takes no new requests.
    #[error("the server is shutting down and accepts no new requests")]
    ShuttingDown,
    /// The engine failed on the request.
    #[error("the engine failed on request {request_id}: {message}")]
    Engine { request_id: String, message: String },
    /// No such route (JSON 404 instead of an empty body).
    #[error("no route for {method} {path}")]
    NotFound { method: String, path: String },
    /// The route exists but not for this method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// No API key, a malformed `Authorization` header, or a key no tenant has.
    #[error("{message}")]
    Unauthorized { message: String },
    /// The tenant may not use the requested model (answered like an unknown model, as OpenAI does).
    #[error("the model `{requested}` does not exist or you do not have access to it")]
    ModelNotAccessible { requested: String },
    /// Over a tenant's requests-per-minute, tokens-per-minute or concurrency limit. `limit_type` is
    /// OpenAI's `type` (`requests` or `tokens`); `headers` carry `x-ratelimit-*` and `retry-after`.
    #[error("{message}")]
    RateLimited { limit_type: &'static str, message: String, headers: Vec<(HeaderName, HeaderValue)> },
    /// A safety filter refused the input (`code`: `prompt_injection_detected`, `content_filter`,
    /// `input_limit_exceeded`).
    #[error("{message}")]
    SafetyBlocked { code: &'static str, message: String, param: Option<String> },
    /// A fail-closed safety check could not run (the moderation service is down or slow).
    #[error("the safety check `{filter}` is unavailable ({reason}); the request was refused (fail-closed)")]
    SafetyUnavailable { filter: &'static str, reason: String },
}

impl ApiError {
    /// A 400 naming the offending field.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::InvalidRequest { message: message.into(), param: Some(param.into()) }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } | ApiError::ContextLengthExceeded { .. } | ApiError::SafetyBlocked { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::ModelNotFound { .. } | ApiError::ModelNotAccessible { .. } | ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::SafetyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Overloaded { .. } | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Engine { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `type` field.
    pub fn error_type(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. }
            | ApiError::ContextLengthExceeded { .. }
            | ApiError::ModelNotFound { .. }
            | ApiError::PayloadTooLarge { .. }
            | ApiError::NotFound { .. }
            | ApiError::MethodNotAllowed { .. }
            | ApiError::Unauthorized { .. }
            | ApiError::ModelNotAccessible { .. }
            | ApiError::SafetyBlocked { .. } => "invalid_request_error",
            ApiError::RateLimited { limit_type, .. } => limit_type,
            ApiError::Overloaded { .. } | ApiError::ShuttingDown => "server_overloaded",
            ApiError::SafetyUnavailable { .. } => "server_error",
            ApiError::Engine { .. } => "server_error",
        }
    }

    /// OpenAI's `code` field.
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            ApiError::InvalidRequest { .. } => return None,
            ApiError::ContextLengthExceeded { .. } => "context_length_exceeded",
            ApiError::ModelNotFound { .. } => "model_not_found",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Overloaded { .. } => "server_overloaded",
            ApiError::ShuttingDown => "server_shutting_down",
            ApiError::Engine { .. } => "engine_error",
            ApiError::NotFound { .. } => "unknown_url",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Unauthorized { .. } => "invalid_api_key",
            ApiError::ModelNotAccessible { .. } => "model_not_found",
            ApiError::RateLimited { .. } => "rate_limit_exceeded",
            ApiError::SafetyBlocked { code, .. } => code,
            ApiError::SafetyUnavailable { .. } => "safety_check_unavailable",
        })
    }

    /// OpenAI's `param` field.
    pub fn param(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { param, .. } => param.as_deref(),
            ApiError::ContextLengthExceeded { .. } => Some("messages"),
            ApiError::ModelNotFound { .. } | ApiError::ModelNotAccessible { .. } => Some("model"),
            ApiError::SafetyBlocked { param, .. } => param.as_deref(),
            _ => None,
        }
    }

    /// The JSON body `{"error": {...}}`.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.to_string(), "type": self.error_type(), "param": self.param(), "code": self.code()}})
    }

    /// Maps an engine error raised while submitting `request_id`. Request-shaped errors are the
    /// client's (400 naming the field); the rest are the server's (500 / 503).
    pub fn from_engine(error: EngineError, request_id: &str, prompt_param: &str) -> ApiError {
        match error {
            EngineError::ContextLength { prompt_tokens, max_tokens, limit } => {
                ApiError::ContextLengthExceeded { prompt_tokens, max_tokens, requested: prompt_tokens + max_tokens, limit }
            }
            EngineError::CacheFull { needed, available_blocks, block_size, .. } => ApiError::invalid(
                "max_tokens",
                format!(
                    "the request needs KV-cache room for {needed} tokens, more than the whole cache holds ({} tokens); reduce the prompt or max_tokens",
                    available_blocks * block_size
                ),
            ),
            EngineError::Sampling(e) => ApiError::invalid(e.field, e.to_string()),
            e @ EngineError::InvalidSampleCount { .. } => ApiError::invalid("n", e.to_string()),
            e @ (EngineError::EmptyPrompt | EngineError::TokenOutOfRange { .. }) => ApiError::invalid(prompt_param, e.to_string()),
            e @ EngineError::StopStringsNeedTokenizer => ApiError::invalid("stop", e.to_string()),
            e @ EngineError::LogprobsUnsupported => ApiError::invalid("logprobs", e.to_string()),
            other => ApiError::Engine { request_id: request_id.to_string(), message: other.to_string() },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::Overloaded { retry_after_s, .. } = &self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let ApiError::RateLimited { headers, .. } = &self {
            for (name, value) in headers {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if let ApiError::Unauthorized { .. } = &self {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::ShuttingDown = &self {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_the_openai_shape() {
        let cases = [
            (ApiError::invalid("temperature", "bad"), 400, Some("temperature"), None),
            (
                ApiError::ContextLengthExceeded { prompt_tokens: 10, max_tokens: 5, requested: 15, limit: 12 },
                400,
                Some("messages"),
                Some("context_length_exceeded"),
            ),
            (ApiError::ModelNotFound { requested: "x".into(), served: "y".into() }, 404, Some("model"), Some("model_not_found")),
            (ApiError::PayloadTooLarge { limit: 5 }, 413, None, Some("payload_too_large")),
            (ApiError::Overloaded { in_flight: 3, limit: 2, retry_after_s: 1 }, 503, None, Some("server_overloaded")),
            (ApiError::Engine { request_id: "r".into(), message: "m".into() }, 500, None, Some("engine_error")),
            (ApiError::Unauthorized { message: "no".into() }, 401, None, Some("invalid_api_key")),
            (ApiError::ModelNotAccessible { requested: "x".into() }, 404, Some("model"), Some("model_not_found")),
            (
                ApiError::RateLimited { limit_type: "tokens", message: "slow down".into(), headers: Vec::new() },
                429,
                None,
                Some("rate_limit_exceeded"),
            ),
            (
                ApiError::SafetyBlocked { code: "prompt_injection_detected", message: "no".into(), param: Some("messages[0].content".into()) },
                400,
                Some("messages[0].content"),
                Some("prompt_injection_detected"),
            ),
            (ApiError::SafetyUnavailable { filter: "moderation", reason: "timeout".into() }, 503, None, Some("safety_check_unavailable")),
        ];
        for (error, status, param, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            let body = error.body();
            let e = &body["error"];
            assert_eq!(e["message"], error.to_string());
            assert_eq!(e["param"].as_str(), param);
            assert_eq!(e["code"].as_str(), code);
            assert!(e["type"].is_string());
        }
    }

    #[test]
    fn context_error_states_both_numbers() {
        let e = ApiError::from_engine(EngineError::ContextLength { prompt_tokens: 100, max_tokens: 50, limit: 120 }, "r", "prompt");
        let m = e.to_string();
        assert!(m.contains("120") && m.contains("150") && m.contains("100") && m.contains("50"), "{m}");
        assert_eq!(e.code(), Some("context_length_exceeded"));
    }

    #[test]
    fn rate_limited_carries_its_headers_and_type() {
        let headers = vec![(HeaderName::from_static("retry-after"), HeaderValue::from_static("3"))];
        let e = ApiError::RateLimited { limit_type: "requests", message: "m".into(), headers };
        assert_eq!(e.body()["error"]["type"], "requests");
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "3");
    }

    #[test]
    fn overloaded_carries_retry_after() {
        let r = ApiError::Overloaded { in_flight: 3, limit: 2, retry_after_s: 2 }.into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }
}

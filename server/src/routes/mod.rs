//! The router: every route, the JSON body extractor with OpenAI-shaped errors, and the middleware
//! that gives each request an id (`X-Request-ID` accepted or generated, echoed on every response)
//! and counts generation requests by status. With a tracer, [`crate::otel::trace_requests`] runs
//! between the request id and access control.
//!
//! Route files: [`chat`] (`/v1/chat/completions`), [`completions`] (`/v1/completions`), [`info`]
//! (`/v1/models`, `/health`, `/metrics`), [`tokenize`] (`/tokenize`, `/detokenize`).

pub mod chat;
pub mod completions;
pub mod guard;
pub mod info;
pub mod tokenize;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::generation::RequestLogged;
use crate::state::AppState;

/// The request's id (from `X-Request-ID` or generated), in the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Routes whose requests `llmserve_requests_total` counts.
pub(crate) const GENERATION_ROUTES: &[&str] = &["/v1/chat/completions", "/v1/completions"];

/// Every route of the server over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let router = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/models", get(info::list_models))
        .route("/health", get(info::health))
        .route("/metrics", get(info::metrics))
        .route("/tokenize", post(tokenize::tokenize))
        .route("/detokenize", post(tokenize::detokenize))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), crate::access::access_control));
    // Tracing sits inside the request id and outside auth; without a tracer it is not installed.
    let router = match &state.tracer {
        Some(_) => router.layer(middleware::from_fn_with_state(Arc::clone(&state), crate::otel::trace_requests)),
        None => router,
    };
    router.layer(middleware::from_fn_with_state(Arc::clone(&state), request_context)).with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound { method: method.to_string(), path: uri.path().to_string() }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), path: uri.path().to_string() }
}

/// A caller's id is kept when it is 1–128 visible ASCII characters; otherwise one is generated.
fn accepted_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())).then(|| s.to_string())
}

/// A fresh random request id (128 bits, hex).
pub fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

async fn request_context(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let id = request.headers().get("x-request-id").and_then(accepted_request_id).unwrap_or_else(new_request_id);
    let path = request.uri().path().to_string();
    let counted = GENERATION_ROUTES.contains(&path.as_str());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if counted {
        let status = response.status().as_u16();
        state.metrics.count_request(status);
        // Admitted requests log themselves when they end (`Generation`); refused ones here.
        if !response.status().is_success() && response.extensions().get::<RequestLogged>().is_none() {
            let tenant = response.extensions().get::<crate::access::TenantLabel>().map(|t| t.0.to_string());
            let trace_id = response.extensions().get::<crate::otel::middleware::TraceIdLabel>().map(|t| t.0.clone());
            tracing::info!(
                target: "llmserve::request",
                request_id = %id,
                route = %path,
                tenant,
                model = %state.config.model_id,
                status = "refused",
                http_status = status,
                trace_id,
                "request refused"
            );
        }
    }
    response
}


/// A JSON body parsed into `T`, every failure an [`ApiError`] (413 over the size limit; 400 with
/// the offending field in `param` otherwise).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: state.config.max_body_bytes }
            } else {
                ApiError::InvalidRequest { message: format!("could not read the request body: {}", rejection.body_text()), param: None }
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses `bytes`; a type error names the field path (`messages[0].role`), an unknown or missing
/// field names that field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::InvalidRequest { message: format!("malformed JSON body: {inner}"), param: None });
            }
            let message = inner.to_string();
            let named = ["unknown field `", "missing field `"]
                .iter()
                .find_map(|prefix| message.split_once(prefix).and_then(|(_, rest)| rest.split_once('`')).map(|(f, _)| f.to_string()));
            // The path ends at an unknown field but at the parent of a missing one.
            let param = match (named, path.as_str()) {
                (Some(field), "." | "") => field,
                (Some(field), p) if p == field || p.ends_with(&format!(".{field}")) => p.to_string(),
                (Some(field), parent) => format!("{parent}.{field}"),
                (None, p) => p.to_string(),
            };
            let message = if message.starts_with("unknown field") {
                format!("{message} (this field is not supported by llmserve)")
            } else {
                format!("invalid value for `{param}`: {message}")
            };
            return Err(ApiError::InvalidRequest { message, param: Some(param) });
        }
    };
    de.end().map_err(|e| ApiError::InvalidRequest { message: format!("malformed JSON body: {e}"), param: None })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::ChatCompletionRequest;

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<ChatCompletionRequest>(b"{not json").unwrap_err();
        assert_eq!(e.param(), None);
        assert!(e.to_string().starts_with("malformed JSON"), "{e}");
        let e = parse_json::<ChatCompletionRequest>(br#"{"messages":[],"tools":[]}"#).unwrap_err();
        assert_eq!(e.param(), Some("tools"));
        let e = parse_json::<ChatCompletionRequest>(br#"{"model":"m"}"#).unwrap_err();
        assert_eq!(e.param(), Some("messages"));
        let e = parse_json::<ChatCompletionRequest>(br#"{"messages":[{"role":"user","content":"x","foo":1}]}"#).unwrap_err();
        assert_eq!(e.param(), Some("messages[0].foo"));
        let e = parse_json::<ChatCompletionRequest>(br#"{"messages":[],"temperature":"hot"}"#).unwrap_err();
        assert_eq!(e.param(), Some("temperature"));
        let e = parse_json::<ChatCompletionRequest>(br#"{"messages":[]} trailing"#).unwrap_err();
        assert_eq!(e.param(), None);
    }

    #[test]
    fn request_ids_are_accepted_or_generated() {
        assert_eq!(accepted_request_id(&HeaderValue::from_static("abc-123")), Some("abc-123".into()));
        assert_eq!(accepted_request_id(&HeaderValue::from_static("has space")), None);
        assert_eq!(new_request_id().len(), 32);
    }
}

//! `GET /v1/models`, `GET /health`, `GET /metrics`.
//!
//! `/health` answers 200 only while the engine loop is alive and answering (its thread runs and,
//! when it has work, it made a step recently) and the server is not draining; 503 with the reason
//! otherwise — what a load balancer or Kubernetes probe needs to route around a stuck replica.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use crate::access::RequestAccess;
use crate::openai::{ModelCard, ModelList};
use crate::state::AppState;

/// The served model, unless the caller's tenant may not use it.
pub async fn list_models(State(state): State<Arc<AppState>>, Extension(access): Extension<RequestAccess>) -> Json<ModelList> {
    let card = ModelCard {
        id: state.config.model_id.clone(),
        object: "model",
        created: state.started_at,
        owned_by: "llmserve",
        max_model_len: state.engine.limits().max_model_len,
    };
    let visible = access.check_model(&card.id).is_ok();
    Json(ModelList { object: "list", data: if visible { vec![card] } else { Vec::new() } })
}

pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    let verdict = if state.is_draining() { Err("the server is shutting down".to_string()) } else { state.engine_healthy() };
    match verdict {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))).into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": reason}))).into_response(),
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.observe_engine(&state.engine.stats(), state.engine.is_alive());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}

//! The HTTP front end: an OpenAI-compatible API (axum on tokio) over the engine's
//! [`EngineHandle`](llmserve_engine::EngineHandle). The server never sees a block or a batch: it
//! validates and tokenizes, admits, submits, and turns the engine's event streams into OpenAI
//! responses and SSE chunks, with metrics and one log line per request.
//!
//! - [`routes`]: the router, body extraction, request ids; one file per route family.
//! - [`openai`]: the wire types; [`validation`]: request → engine request; [`error`]: [`ApiError`].
//! - [`generation`]: one request in flight (merged streams, per-choice state, metrics, log line).
//! - [`sse`]: stream framing; [`logprobs`]: logprob response shapes; [`metrics`]: every series;
//!   [`gpu_metrics`]: NVML GPU gauges (none without a GPU).
//! - [`state`]: [`ServerConfig`], [`AppState`] and admission.
//! - [`otel`]: OpenTelemetry traces of generation requests (`--otlp-endpoint`).
//!
//! [`serve`] runs the server until a shutdown signal, then drains: new requests get 503, the
//! listener closes, in-flight requests finish within `shutdown_timeout`, and what is left is aborted.

pub mod access;
pub mod auth;
pub mod error;
pub mod generation;
pub mod gpu_metrics;
pub mod logprobs;
pub mod metrics;
pub mod openai;
pub mod otel;
pub mod rate_limit;
pub mod routes;
pub mod safety;
pub mod sse;
pub mod state;
pub mod tenants;
pub mod validation;

use std::future::Future;
use std::sync::Arc;

pub use error::ApiError;
pub use state::{AppState, ServerConfig};

/// Version string reported by the server (`/metrics` build info, logs).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Serves `state` on `listener` until `shutdown` completes, then drains (see the crate docs).
/// Returns once every connection is closed or the drain timeout passed; the engine is shut down
/// before returning (what was still running ends with `abort`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (draining_tx, mut draining_rx) = tokio::sync::watch::channel(false);
    let app = routes::router(Arc::clone(&state));
    let drain_state = Arc::clone(&state);
    let signal = async move {
        shutdown.await;
        drain_state.start_draining();
        tracing::info!(
            in_flight = drain_state.in_flight(),
            timeout_s = drain_state.config.shutdown_timeout.as_secs_f64(),
            "shutdown requested: refusing new requests, finishing in-flight ones"
        );
        let _ = draining_tx.send(true);
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let timeout = state.config.shutdown_timeout;
    let result = tokio::select! {
        result = server => result,
        _ = async {
            let _ = draining_rx.wait_for(|d| *d).await;
            tokio::time::sleep(timeout).await;
        } => {
            tracing::warn!(in_flight = state.in_flight(), "drain timeout reached: aborting the requests still in flight");
            Ok(())
        }
    };
    let engine = state.engine.clone();
    // Joining the engine thread blocks; keep it off the async workers.
    let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
    if let Some(tracer) = state.tracer.clone() {
        // Export what the last requests left queued (blocks up to the export timeout).
        let _ = tokio::task::spawn_blocking(move || tracer.shutdown()).await;
    }
    tracing::info!("server stopped");
    result
}

/// Installs a SIGHUP handler now (inside a tokio runtime) and returns the future that reloads the
/// tenants file on every SIGHUP for as long as it runs. In-flight requests keep the configuration
/// they started with; a bad file keeps the old one and logs why.
#[cfg(unix)]
pub fn watch_sighup(state: Arc<AppState>) -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    Ok(async move {
        while hangups.recv().await.is_some() {
            reload_access(&state);
        }
    })
}

/// Without Unix signals there is nothing to watch.
#[cfg(not(unix))]
pub fn watch_sighup(_state: Arc<AppState>) -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(std::future::pending::<()>())
}

/// One reload of the tenants file, logged and counted.
pub fn reload_access(state: &AppState) {
    match state.access.reload() {
        Ok(tenants) => {
            state.metrics.config_reloads.with_label_values(&["ok"]).inc();
            tracing::info!(tenants, "tenants file reloaded");
        }
        Err(e) => {
            state.metrics.config_reloads.with_label_values(&["error"]).inc();
            tracing::error!(error = %e, "tenants file NOT reloaded: keeping the previous configuration");
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

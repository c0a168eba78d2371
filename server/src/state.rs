//! [`ServerConfig`] (what the operator chose) and [`AppState`] (what every handler shares): the
//! engine handle, the tokenizer and chat template, the metrics, and the admission counter.
//!
//! Admission follows TGI's `max_concurrent_requests` (a request beyond the cap is refused at once
//! instead of queueing without bound), answered as the issue asks with 503 + `Retry-After`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llmserve_engine::EngineHandle;
use llmserve_models::chat_template::ChatTemplate;
use llmserve_models::tokenizer::Tokenizer;

use crate::access::AccessControl;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Operator settings of the HTTP server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The id clients put in `model` (and `/v1/models` lists).
    pub model_id: String,
    /// Largest request body accepted (bytes).
    pub max_body_bytes: usize,
    /// Most generation samples (requests × n) admitted at once; more get 503 + Retry-After.
    pub max_in_flight: usize,
    /// `Retry-After` seconds sent with 503 overloaded.
    pub retry_after_s: u64,
    /// On SIGINT / SIGTERM, how long in-flight requests may take to finish before they are aborted.
    pub shutdown_timeout: Duration,
    /// `/health` reports 503 when the engine has work but made no step for this long.
    pub stall_timeout: Duration,
    /// `system_fingerprint` in every response (build and backend).
    pub system_fingerprint: String,
    /// Default `max_tokens` of `/v1/completions` (OpenAI's is 16; chat defaults to the rest of the context).
    pub default_completion_max_tokens: u32,
}

impl ServerConfig {
    /// Defaults for serving `model_id`.
    pub fn new(model_id: impl Into<String>) -> ServerConfig {
        ServerConfig {
            model_id: model_id.into(),
            max_body_bytes: 4 * 1024 * 1024,
            max_in_flight: 512,
            retry_after_s: 1,
            shutdown_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            system_fingerprint: format!("fp_llmserve_{}", crate::version()),
            default_completion_max_tokens: 16,
        }
    }
}

/// Shared by every handler (behind an `Arc`).
pub struct AppState {
    pub config: ServerConfig,
    pub engine: EngineHandle,
    pub tokenizer: Arc<Tokenizer>,
    /// The model's chat template; `None` = chat completions are refused with the reason.
    pub chat_template: Option<ChatTemplate>,
    pub metrics: Arc<Metrics>,
    /// Keys, tenants, rate limiters and safety profiles (open with the `default` profile unless
    /// [`AppState::with_access`] says otherwise).
    pub access: AccessControl,
    /// Unix time the server started (`created` of the model card).
    pub started_at: u64,
    /// OpenTelemetry request tracing; `None` (the default) = off, nothing is recorded.
    pub tracer: Option<Arc<crate::otel::RequestTracer>>,
    in_flight: AtomicUsize,
    draining: AtomicBool,
}

/// One admitted generation request's share of the admission cap; released on drop (also when a
/// client disconnects and the handler or stream is dropped).
pub struct AdmissionPermit {
    state: Arc<AppState>,
    samples: usize,
}

impl Drop for AdmissionPermit {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(self.samples, Ordering::SeqCst);
        self.state.metrics.requests_in_flight.sub(self.samples as i64);
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl AppState {
    pub fn new(config: ServerConfig, engine: EngineHandle, tokenizer: Arc<Tokenizer>, chat_template: Option<ChatTemplate>) -> AppState {
        let metrics = Arc::new(Metrics::new(&config.model_id, crate::version()));
        AppState {
            config,
            engine,
            tokenizer,
            chat_template,
            metrics,
            access: AccessControl::open("default").expect("the built-in `default` profile exists"),
            started_at: unix_now(),
            tracer: None,
            in_flight: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
        }
    }

    /// Replaces the access configuration (before the state is shared).
    pub fn with_access(mut self, access: AccessControl) -> AppState {
        self.access = access;
        self
    }

    /// Traces generation requests with `tracer` (before the state is shared).
    pub fn with_tracer(mut self, tracer: Option<crate::otel::RequestTracer>) -> AppState {
        self.tracer = tracer.map(Arc::new);
        self
    }

    /// Admits `samples` more generation samples, or refuses: 503 while shutting down or when the
    /// cap would be exceeded.
    pub fn admit(self: &Arc<Self>, samples: usize) -> Result<AdmissionPermit, ApiError> {
        if self.is_draining() {
            return Err(ApiError::ShuttingDown);
        }
        let limit = self.config.max_in_flight;
        let mut current = self.in_flight.load(Ordering::SeqCst);
        loop {
            if current + samples > limit {
                return Err(ApiError::Overloaded { in_flight: current, limit, retry_after_s: self.config.retry_after_s });
            }
            match self.in_flight.compare_exchange(current, current + samples, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        self.metrics.requests_in_flight.add(samples as i64);
        Ok(AdmissionPermit { state: Arc::clone(self), samples })
    }

    /// Samples admitted and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// From now on new generation requests get 503 (shutdown in progress).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Whether the engine loop is alive and answering: its thread runs, and if it has work it made
    /// a step within `stall_timeout`.
    pub fn engine_healthy(&self) -> Result<(), String> {
        if !self.engine.is_alive() {
            return Err("the engine loop is not running".into());
        }
        let stats = self.engine.stats();
        let since = self.engine.time_since_last_step();
        if stats.num_running + stats.num_waiting > 0 && since > self.config.stall_timeout {
            return Err(format!(
                "the engine has {} requests but made no step for {:.1} s (limit {:.0} s)",
                stats.num_running + stats.num_waiting,
                since.as_secs_f64(),
                self.config.stall_timeout.as_secs_f64()
            ));
        }
        Ok(())
    }
}

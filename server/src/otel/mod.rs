//! OpenTelemetry tracing of generation requests (`llmserve serve --otlp-endpoint URL`).
//!
//! Each `POST /v1/chat/completions` and `POST /v1/completions` becomes one trace: a SERVER root
//! span `POST /v1/chat/completions` with one child per phase the request went through, in this
//! order (completions tokenizes *before* the safety check, because token-id prompts are decoded
//! for it, so there `tokenize` comes before `safety.input`):
//!
//! | span | from → to |
//! | --- | --- |
//! | [`SPAN_AUTH`] `auth_and_limits` | request received → key checked and request-rate / concurrency limits taken (or the 401 / 429) |
//! | [`SPAN_SAFETY_INPUT`] `safety.input` | model access + the input safety chain |
//! | [`SPAN_TOKENIZE`] `tokenize` | chat template + tokenizer + context-length check |
//! | [`SPAN_QUEUE`] `queue` | submitted to the engine → first scheduled (the engine's `queue_time`) |
//! | [`SPAN_PREFILL`] `prefill` | first scheduled → first token back |
//! | [`SPAN_DECODE`] `decode` | first token → last token (tokens are streamed to the client as they come) |
//! | [`SPAN_STREAM`] `stream` | last token → response body finished (output-filter tail, usage, `[DONE]`, or the JSON body; a slow reader shows here) |
//!
//! Queue, prefill and decode happen on the engine thread; rather than carrying a context into it,
//! the request records phase timestamps ([`RequestTrace`]) and every span is emitted with explicit
//! start and end times when the response body ends (or the client goes away). The root span is
//! started at once, so its sampling decision and ids are known from the start (they go into the
//! `traceparent` response header and the `trace_id` of the request's log line).
//!
//! The caller's `traceparent` / `tracestate` ([`traceparent`]) is the root's parent; sampling is
//! parent-based: a sampled parent is always recorded, otherwise `--otlp-sample-ratio` of new
//! traces are. Export is OTLP/HTTP protobuf through the SDK's batch span processor (its own
//! thread, bounded queue): a request never waits on the collector, a full queue drops spans, and
//! export failures are logged at most once a minute ([`exporter`]). Without `--otlp-endpoint`
//! nothing here runs: the state holds `None` and the middleware is not installed.
//!
//! Attributes never carry prompt or output text: ids, tenant, model, token counts and reasons.

pub mod exporter;
pub mod middleware;
pub mod request;
pub mod traceparent;

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

pub use middleware::trace_requests;
pub use request::{phase, Phase, RequestTrace};

/// Child span: authentication, request-rate and concurrency limits.
pub const SPAN_AUTH: &str = "auth_and_limits";
/// Child span: model access and the input safety chain.
pub const SPAN_SAFETY_INPUT: &str = "safety.input";
/// Child span: chat template, tokenizer and context-length check.
pub const SPAN_TOKENIZE: &str = "tokenize";
/// Child span: waiting in the engine's queue.
pub const SPAN_QUEUE: &str = "queue";
/// Child span: prompt processing up to the first token.
pub const SPAN_PREFILL: &str = "prefill";
/// Child span: first to last generated token.
pub const SPAN_DECODE: &str = "decode";
/// Child span: after the last token until the response body is finished.
pub const SPAN_STREAM: &str = "stream";

/// Attribute keys (OTel HTTP and GenAI semantic conventions where they exist, `llmserve.*` else).
pub mod attr {
    pub const HTTP_METHOD: &str = "http.request.method";
    pub const HTTP_ROUTE: &str = "http.route";
    pub const URL_PATH: &str = "url.path";
    pub const HTTP_STATUS: &str = "http.response.status_code";
    pub const ERROR_TYPE: &str = "error.type";
    pub const REQUEST_ID: &str = "llmserve.request_id";
    pub const TENANT: &str = "llmserve.tenant";
    /// How the request ended: `ok`, `engine_error`, `client_disconnected` (the log line's `status`),
    /// or `refused` before reaching the engine.
    pub const OUTCOME: &str = "llmserve.outcome";
    pub const OPERATION: &str = "gen_ai.operation.name";
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    pub const MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    pub const CACHED_TOKENS: &str = "llmserve.cached_tokens";
    pub const FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    pub const N: &str = "llmserve.n";
}

/// Default batch delay (the SDK's): how long finished spans may wait before an export.
pub const DEFAULT_BATCH_DELAY: Duration = Duration::from_secs(5);
/// Default time one export may take before it is abandoned.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why tracing could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error("--otlp-endpoint `{endpoint}` is not a valid URL: {reason} (expected e.g. http://collector:4318)")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("--otlp-sample-ratio must be between 0 and 1 (inclusive), got {0}")]
    InvalidSampleRatio(f64),
    #[error("--otlp-service-name is empty")]
    EmptyServiceName,
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Where and how traces are exported.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// The full traces URL (`<base>/v1/traces`).
    pub traces_url: String,
    /// `service.name` of the resource.
    pub service_name: String,
    /// Share of new traces (no sampled parent) recorded, 0..=1.
    pub sample_ratio: f64,
    /// Longest a finished span waits before it is exported (tests shorten it).
    pub batch_delay: Duration,
    /// Longest one export may take.
    pub export_timeout: Duration,
}

impl OtlpConfig {
    /// Checks the flags. `endpoint` is the collector's OTLP/HTTP base URL (e.g.
    /// `http://collector:4318`); `/v1/traces` is appended as the OTel spec says for the base
    /// endpoint, unless the URL already ends with it.
    pub fn new(endpoint: &str, service_name: &str, sample_ratio: f64) -> Result<OtlpConfig, OtelError> {
        let invalid = |reason: &str| OtelError::InvalidEndpoint { endpoint: endpoint.to_string(), reason: reason.to_string() };
        let url = reqwest::Url::parse(endpoint.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(&format!("the scheme must be http or https, not `{}`", url.scheme())));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it names no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it must not have a query or fragment"));
        }
        if !(0.0..=1.0).contains(&sample_ratio) {
            return Err(OtelError::InvalidSampleRatio(sample_ratio));
        }
        if service_name.trim().is_empty() {
            return Err(OtelError::EmptyServiceName);
        }
        let base = url.as_str().trim_end_matches('/');
        let traces_url = if base.ends_with("/v1/traces") { base.to_string() } else { format!("{base}/v1/traces") };
        Ok(OtlpConfig {
            traces_url,
            service_name: service_name.trim().to_string(),
            sample_ratio,
            batch_delay: DEFAULT_BATCH_DELAY,
            export_timeout: DEFAULT_EXPORT_TIMEOUT,
        })
    }
}

/// The tracer provider (batch exporter thread) and the tracer of request spans.
pub struct RequestTracer {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    config: OtlpConfig,
}

impl std::fmt::Debug for RequestTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTracer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl RequestTracer {
    /// Starts the exporter (nothing is sent until the first sampled request finishes).
    pub fn start(config: OtlpConfig) -> Result<RequestTracer, OtelError> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.traces_url.clone())
            .with_timeout(config.export_timeout)
            .build()?;
        let exporter = exporter::QuietExporter::new(exporter, config.traces_url.clone());
        let batch = BatchConfigBuilder::default().with_scheduled_delay(config.batch_delay).build();
        let processor = BatchSpanProcessor::new(exporter, batch);
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new("service.version", crate::version()))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("llmserve");
        Ok(RequestTracer { provider, tracer, config })
    }

    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    pub(crate) fn tracer(&self) -> &SdkTracer {
        &self.tracer
    }

    /// Exports what is queued and stops the exporter (blocks up to the export timeout; call it
    /// off the async workers). Spans ended later are dropped.
    pub fn shutdown(&self) {
        match self.provider.shutdown_with_timeout(self.config.export_timeout) {
            Ok(()) => tracing::info!("OTLP traces flushed"),
            Err(e) => tracing::warn!(error = %e, "OTLP traces not flushed at shutdown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_flags_are_checked() {
        let c = OtlpConfig::new("http://collector:4318", "llmserve", 1.0).unwrap();
        assert_eq!(c.traces_url, "http://collector:4318/v1/traces");
        assert_eq!(OtlpConfig::new("https://c.example/otlp/", "s", 0.5).unwrap().traces_url, "https://c.example/otlp/v1/traces");
        assert_eq!(OtlpConfig::new("http://c:4318/v1/traces", "s", 0.0).unwrap().traces_url, "http://c:4318/v1/traces");
        for bad in ["collector:4318", "not a url", "ftp://c:21", "http://", "http://c:4318/?x=1"] {
            let e = OtlpConfig::new(bad, "s", 1.0).unwrap_err();
            assert!(matches!(e, OtelError::InvalidEndpoint { .. }), "{bad}: {e}");
        }
        for ratio in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(OtlpConfig::new("http://c:4318", "s", ratio), Err(OtelError::InvalidSampleRatio(_))), "{ratio}");
        }
        assert!(matches!(OtlpConfig::new("http://c:4318", " ", 1.0), Err(OtelError::EmptyServiceName)));
    }
}

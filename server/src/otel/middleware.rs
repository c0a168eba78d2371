//! The tracing middleware (installed only with `--otlp-endpoint`): for each generation request it
//! starts the root span (parent from the caller's `traceparent`), puts the [`RequestTrace`] in the
//! request's extensions for the access middleware and the handler, returns our `traceparent` in
//! the response headers, and finishes the trace when the response body ends — for a stream that
//! is after `[DONE]`, or when the client goes away. The body keeps its size hint, so a JSON
//! response keeps its `content-length`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use opentelemetry::KeyValue;

use super::request::RequestTrace;
use super::{attr, traceparent};
use crate::access::TenantLabel;
use crate::routes::{RequestId, GENERATION_ROUTES};
use crate::state::AppState;

/// The trace id of a traced response, in its extensions (the "request refused" log line).
#[derive(Clone, Debug)]
pub struct TraceIdLabel(pub String);

/// See the module doc.
pub async fn trace_requests(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let Some(tracer) = state.tracer.as_ref() else { return next.run(request).await };
    let path = request.uri().path();
    if !GENERATION_ROUTES.contains(&path) {
        return next.run(request).await;
    }
    let method = request.method().as_str().to_string();
    let path = path.to_string();
    let mut attributes = vec![
        KeyValue::new(attr::HTTP_METHOD, method.clone()),
        KeyValue::new(attr::URL_PATH, path.clone()),
        KeyValue::new(attr::HTTP_ROUTE, path.clone()),
        KeyValue::new(attr::RESPONSE_MODEL, state.config.model_id.clone()),
    ];
    if let Some(RequestId(id)) = request.extensions().get::<RequestId>() {
        attributes.push(KeyValue::new(attr::REQUEST_ID, id.clone()));
    }
    let parent = traceparent::remote_parent(request.headers());
    let trace = RequestTrace::start(tracer.tracer(), format!("{method} {path}"), parent, attributes);
    request.extensions_mut().insert(trace.clone());
    // Dropped with this future when the client goes away before the response starts (hyper drops
    // the handler): the trace still ends, without a status code.
    let mut finish = FinishOnDrop { trace: Some(trace.clone()), status: None, tenant: None };
    let response = next.run(request).await;
    finish.status = Some(response.status().as_u16());
    finish.tenant = response.extensions().get::<TenantLabel>().map(|t| Arc::clone(&t.0));
    let (mut parts, body) = response.into_parts();
    if let Ok(v) = HeaderValue::from_str(&traceparent::format_traceparent(trace.span_context())) {
        parts.headers.insert("traceparent", v);
    }
    parts.extensions.insert(TraceIdLabel(trace.trace_id()));
    Response::from_parts(parts, Body::new(TracedBody { inner: body, finish }))
}

/// Finishes the trace when dropped (body done or abandoned).
struct FinishOnDrop {
    trace: Option<RequestTrace>,
    /// The response status (`None` = no response was produced).
    status: Option<u16>,
    tenant: Option<Arc<str>>,
}

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        if let Some(trace) = self.trace.take() {
            trace.finish(self.status, self.tenant.as_deref(), Instant::now());
        }
    }
}

/// The response body, finishing the trace at its end. Field order matters: `inner` (which may
/// own the generation, whose drop records the engine times) drops before `finish`.
struct TracedBody {
    inner: Body,
    finish: FinishOnDrop,
}

impl HttpBody for TracedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            if let Some(trace) = this.finish.trace.take() {
                trace.finish(this.finish.status, this.finish.tenant.as_deref(), Instant::now());
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

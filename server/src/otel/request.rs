//! [`RequestTrace`]: one traced request — its root span (started when the request arrives) and
//! the timestamps of the phases it went through; [`RequestTrace::finish`] turns them into child
//! spans with explicit start and end times and ends the root. Cheap to clone (an `Arc`), shared
//! by the middleware, the handler and the [`Generation`](crate::generation::Generation).
//!
//! Times are taken with `Instant` (monotonic) and converted to wall-clock time through one anchor
//! taken at the start, so the spans of a request nest exactly even if the system clock steps.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{Span as _, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SdkTracer;

use super::{attr, SPAN_AUTH, SPAN_DECODE, SPAN_PREFILL, SPAN_QUEUE, SPAN_SAFETY_INPUT, SPAN_STREAM, SPAN_TOKENIZE};

/// A phase the handler times itself (the engine phases come from [`GenerationTimes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    SafetyInput,
    Tokenize,
}

impl Phase {
    const ALL: [Phase; 2] = [Phase::SafetyInput, Phase::Tokenize];

    fn span_name(self) -> &'static str {
        match self {
            Phase::SafetyInput => SPAN_SAFETY_INPUT,
            Phase::Tokenize => SPAN_TOKENIZE,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the generation knows when it ends: engine timing and usage.
#[derive(Clone, Debug, Default)]
pub struct GenerationTimes {
    /// When the engine requests were submitted.
    pub submitted: Option<Instant>,
    /// The engine's queue time (shortest over the choices: when the request first ran).
    pub queue_time: Option<Duration>,
    /// First token of any choice, as the server received it.
    pub first_token: Option<Instant>,
    /// Last token of any choice.
    pub last_token: Option<Instant>,
    /// When every choice had ended (or the request was given up).
    pub ended: Option<Instant>,
    pub input_tokens: usize,
    pub output_tokens: usize,
    pub cached_tokens: usize,
    pub finish_reasons: Vec<&'static str>,
    /// The log line's status: `ok`, `engine_error`, `client_disconnected`.
    pub outcome: &'static str,
}

/// Mutable part of a trace.
struct TraceState {
    /// Context holding the root span; `None` once finished.
    root: Option<Context>,
    /// Auth and limits passed (`None` = refused there, or still running).
    access_checked: Option<Instant>,
    /// Per [`Phase`]: (start, end).
    phases: [Option<(Instant, Option<Instant>)>; 2],
    generation: Option<GenerationTimes>,
    /// Attributes the handler learned (model, n, max_tokens, operation).
    attributes: Vec<KeyValue>,
}

struct Inner {
    tracer: SdkTracer,
    /// The root span's context (trace id, span id, sampled flag).
    context: SpanContext,
    /// Wall-clock time of `anchor` (the request's arrival).
    anchor_time: SystemTime,
    anchor: Instant,
    state: Mutex<TraceState>,
}

/// One traced request (see the module doc).
#[derive(Clone)]
pub struct RequestTrace(Arc<Inner>);

impl std::fmt::Debug for RequestTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequestTrace").field(&self.0.context).finish()
    }
}

/// Ends a handler-timed phase when dropped (also on an early `?` return).
pub struct PhaseGuard {
    trace: RequestTrace,
    phase: Phase,
}

impl Drop for PhaseGuard {
    fn drop(&mut self) {
        let now = Instant::now();
        self.trace.with_state(|s| {
            if let Some((_, end @ None)) = &mut s.phases[self.phase.index()] {
                *end = Some(now);
            }
        });
    }
}

/// Starts timing `phase` when the request is traced; the guard ends it.
pub fn phase(trace: Option<&RequestTrace>, phase: Phase) -> Option<PhaseGuard> {
    trace.map(|t| t.phase(phase))
}

/// Records the GenAI operation (`chat`, `text_completion`) and the model the caller asked for.
pub fn set_request_model(trace: Option<&RequestTrace>, operation: &'static str, model: Option<&str>) {
    if let Some(t) = trace {
        let mut attributes = vec![KeyValue::new(attr::OPERATION, operation)];
        if let Some(model) = model {
            attributes.push(KeyValue::new(attr::REQUEST_MODEL, model.to_string()));
        }
        t.set_attributes(attributes);
    }
}

/// Records samples per prompt and the (largest) effective `max_tokens`.
pub fn set_sampling(trace: Option<&RequestTrace>, n: usize, max_tokens: u32) {
    if let Some(t) = trace {
        t.set_attributes([KeyValue::new(attr::N, n as i64), KeyValue::new(attr::MAX_TOKENS, i64::from(max_tokens))]);
    }
}

impl RequestTrace {
    /// Starts the root SERVER span `name` now, as a child of `parent` (the caller's
    /// `traceparent`) or of nothing (new trace).
    pub fn start(tracer: &SdkTracer, name: String, parent: Option<SpanContext>, attributes: Vec<KeyValue>) -> RequestTrace {
        let (anchor, anchor_time) = (Instant::now(), SystemTime::now());
        let parent_cx = match parent {
            Some(sc) => Context::new().with_remote_span_context(sc),
            None => Context::new(),
        };
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_start_time(anchor_time)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent_cx);
        let context = span.span_context().clone();
        let root = Context::new().with_span(span);
        RequestTrace(Arc::new(Inner {
            tracer: tracer.clone(),
            context,
            anchor_time,
            anchor,
            state: Mutex::new(TraceState {
                root: Some(root),
                access_checked: None,
                phases: [None; 2],
                generation: None,
                attributes: Vec::new(),
            }),
        }))
    }

    /// The root span's context (trace id, span id, flags).
    pub fn span_context(&self) -> &SpanContext {
        &self.0.context
    }

    /// The trace id as 32 hex digits (for the log line).
    pub fn trace_id(&self) -> String {
        self.0.context.trace_id().to_string()
    }

    /// Whether the spans are recorded and exported.
    pub fn is_sampled(&self) -> bool {
        self.0.context.is_sampled()
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut TraceState) -> R) -> Option<R> {
        if !self.is_sampled() {
            return None;
        }
        self.0.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// Auth and limits passed.
    pub fn mark_access_checked(&self) {
        let now = Instant::now();
        self.with_state(|s| s.access_checked = Some(now));
    }

    /// Starts timing `phase` (a phase timed twice keeps its first run).
    pub fn phase(&self, phase: Phase) -> PhaseGuard {
        let now = Instant::now();
        self.with_state(|s| {
            let slot = &mut s.phases[phase.index()];
            if slot.is_none() {
                *slot = Some((now, None));
            }
        });
        PhaseGuard { trace: self.clone(), phase }
    }

    /// Adds root attributes the handler knows (model, n, max_tokens, ...).
    pub fn set_attributes(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.with_state(|s| s.attributes.extend(attributes));
    }

    /// What the generation measured (called once when it ends).
    pub fn record_generation(&self, times: GenerationTimes) {
        self.with_state(|s| s.generation = Some(times));
    }

    fn wall(&self, t: Instant) -> SystemTime {
        self.0.anchor_time + t.saturating_duration_since(self.0.anchor)
    }

    /// Emits the child spans and ends the root at `end` with the response `status` (`None`: the
    /// client went away before a response); `tenant` when known. Runs once; later calls do nothing.
    pub fn finish(&self, status: Option<u16>, tenant: Option<&str>, end: Instant) {
        let Some((root, state)) = self.with_state(|s| {
            let root = s.root.take()?;
            Some((root, TraceStateSnapshot {
                access_checked: s.access_checked,
                phases: s.phases,
                generation: s.generation.take(),
                attributes: std::mem::take(&mut s.attributes),
            }))
        }).flatten() else {
            return;
        };
        let start = self.0.anchor;
        let clamp = |t: Instant| t.clamp(start, end.max(start));
        let child = |name: &'static str, from: Instant, to: Instant, attributes: Vec<KeyValue>| {
            let (from, to) = (clamp(from), clamp(to));
            let mut span = self
                .0
                .tracer
                .span_builder(Cow::Borrowed(name))
                .with_kind(SpanKind::Internal)
                .with_start_time(self.wall(from))
                .with_attributes(attributes)
                .start_with_context(&self.0.tracer, &root);
            span.end_with_timestamp(self.wall(to.max(from)));
        };
        // Phases that did not end were cut short by the refusal that ends the request.
        child(SPAN_AUTH, start, state.access_checked.unwrap_or(end), Vec::new());
        let mut handler_phases: Vec<(Phase, Instant, Instant)> =
            Phase::ALL.iter().filter_map(|p| state.phases[p.index()].map(|(s, e)| (*p, s, e.unwrap_or(end)))).collect();
        handler_phases.sort_by_key(|(_, s, _)| *s);
        for (p, s, e) in handler_phases {
            child(p.span_name(), s, e, Vec::new());
        }
        let span = root.span();
        let mut outcome = if status.is_some() { "refused" } else { "client_disconnected" };
        if let Some(g) = &state.generation {
            outcome = g.outcome;
            if let Some(submitted) = g.submitted {
                // Queue and prefill need the engine's queue time, which comes with a sample's end: a
                // request abandoned by its client has none (its decode still shows).
                if let Some(queue_time) = g.queue_time {
                    let scheduled = submitted + queue_time;
                    child(SPAN_QUEUE, submitted, scheduled, Vec::new());
                    let prefill_end = g.first_token.unwrap_or(g.ended.unwrap_or(end)).max(scheduled);
                    let prefill_attrs = vec![
                        KeyValue::new(attr::INPUT_TOKENS, g.input_tokens as i64),
                        KeyValue::new(attr::CACHED_TOKENS, g.cached_tokens as i64),
                    ];
                    child(SPAN_PREFILL, scheduled, prefill_end, prefill_attrs);
                }
                if let (Some(first), Some(last)) = (g.first_token, g.last_token) {
                    child(SPAN_DECODE, first, last.max(first), vec![KeyValue::new(attr::OUTPUT_TOKENS, g.output_tokens as i64)]);
                }
                let stream_start = g.last_token.or(g.ended).unwrap_or(end);
                child(SPAN_STREAM, stream_start, end, Vec::new());
            }
            span.set_attribute(KeyValue::new(attr::INPUT_TOKENS, g.input_tokens as i64));
            span.set_attribute(KeyValue::new(attr::OUTPUT_TOKENS, g.output_tokens as i64));
            span.set_attribute(KeyValue::new(attr::CACHED_TOKENS, g.cached_tokens as i64));
            let reasons: Vec<StringValue> = g.finish_reasons.iter().map(|r| StringValue::from(*r)).collect();
            span.set_attribute(KeyValue::new(attr::FINISH_REASONS, Value::Array(Array::String(reasons))));
        }
        for kv in state.attributes {
            span.set_attribute(kv);
        }
        if let Some(tenant) = tenant {
            span.set_attribute(KeyValue::new(attr::TENANT, tenant.to_string()));
        }
        if let Some(status) = status {
            span.set_attribute(KeyValue::new(attr::HTTP_STATUS, i64::from(status)));
        }
        span.set_attribute(KeyValue::new(attr::OUTCOME, outcome));
        // HTTP semantic conventions: a server span is an error for 5xx only (4xx is the caller's).
        if let Some(status) = status.filter(|s| *s >= 500) {
            span.set_attribute(KeyValue::new(attr::ERROR_TYPE, status.to_string()));
            span.set_status(Status::error(format!("HTTP {status}")));
        }
        span.end_with_timestamp(self.wall(end.max(start)));
    }
}

/// What `finish` takes out of the state.
struct TraceStateSnapshot {
    access_checked: Option<Instant>,
    phases: [Option<(Instant, Option<Instant>)>; 2],
    generation: Option<GenerationTimes>,
    attributes: Vec<KeyValue>,
}

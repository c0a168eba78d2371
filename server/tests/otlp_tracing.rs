//! OpenTelemetry tracing end to end: the real server on the default model exports over OTLP/HTTP
//! to a receiver in this test (axum on a loopback port decoding `ExportTraceServiceRequest`s).
//! Checked: the caller's `traceparent` is honoured (trace id, parent span id), every phase span
//! exists inside the root in the documented order, the attributes equal what the response says
//! (request id, tenant, model, token counts), refused requests (401, 503) get a root span with
//! their status and the child spans that ran, a request without `traceparent` starts a new trace,
//! and a dead collector changes nothing for requests.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use common::*;
use llmserve_server::access::AccessControl;
use llmserve_server::otel::{self, OtlpConfig, RequestTracer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use prost::Message;
use serde_json::{json, Value};

const KEY: &str = "otel-test-key";
const CALLER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

/// Spans received by the in-test collector, with their resource's `service.name`.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

impl Received {
    fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().iter().map(|(_, s)| s.clone()).collect()
    }
}

/// An OTLP/HTTP receiver on a free loopback port; returns its base URL.
async fn collector(received: Received) -> String {
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let received = received.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf trace export");
                let mut store = received.0.lock().unwrap();
                for rs in request.resource_spans {
                    let service = rs
                        .resource
                        .iter()
                        .flat_map(|r| r.attributes.iter())
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| kv.value.as_ref()?.value.clone())
                        .map(|v| match v {
                            AnyValue::StringValue(s) => s,
                            other => format!("{other:?}"),
                        })
                        .unwrap_or_default();
                    for ss in rs.scope_spans {
                        store.extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
                    }
                }
                // An empty ExportTraceServiceResponse.
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn tracer(endpoint: &str, batch_delay: Duration) -> RequestTracer {
    let mut config = OtlpConfig::new(endpoint, "llmserve-test", 1.0).expect("valid flags");
    config.batch_delay = batch_delay;
    config.export_timeout = Duration::from_secs(2);
    RequestTracer::start(config).expect("exporter starts")
}

fn attribute(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.clone())
}

fn int_attr(span: &Span, key: &str) -> i64 {
    match attribute(span, key) {
        Some(AnyValue::IntValue(v)) => v,
        other => panic!("{}: attribute {key} is {other:?}", span.name),
    }
}

fn str_attr(span: &Span, key: &str) -> String {
    match attribute(span, key) {
        Some(AnyValue::StringValue(v)) => v,
        other => panic!("{}: attribute {key} is {other:?}", span.name),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A root span (SERVER) and its children by start time.
struct Trace {
    root: Span,
    children: Vec<Span>,
}

impl Trace {
    fn child_names(&self) -> Vec<&str> {
        self.children.iter().map(|s| s.name.as_str()).collect()
    }

    /// Children lie inside the root, start in order, and never end before they start.
    fn assert_nested(&self) {
        let (start, end) = (self.root.start_time_unix_nano, self.root.end_time_unix_nano);
        assert!(start <= end);
        let mut previous = start;
        for c in &self.children {
            assert!(c.start_time_unix_nano >= start && c.end_time_unix_nano <= end, "{} outside the root", c.name);
            assert!(c.start_time_unix_nano <= c.end_time_unix_nano, "{} ends before it starts", c.name);
            assert!(c.start_time_unix_nano >= previous, "{} starts before the span before it", c.name);
            assert_eq!(c.trace_id, self.root.trace_id);
            assert_eq!(c.kind, SpanKind::Internal as i32);
            previous = c.start_time_unix_nano;
        }
    }
}

/// Polls (bounded: 10 s) until the root span whose request id is `request_id` and `children`
/// children have arrived.
async fn wait_for_trace(received: &Received, request_id: &str, children: usize) -> Trace {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = received.spans();
        let root = spans
            .iter()
            .find(|s| s.kind == SpanKind::Server as i32 && attribute(s, otel::attr::REQUEST_ID) == Some(AnyValue::StringValue(request_id.into())));
        if let Some(root) = root {
            let mut kids: Vec<Span> = spans.iter().filter(|s| s.parent_span_id == root.span_id && s.trace_id == root.trace_id).cloned().collect();
            if kids.len() >= children {
                kids.sort_by_key(|s| s.start_time_unix_nano);
                return Trace { root: root.clone(), children: kids };
            }
        }
        assert!(Instant::now() < deadline, "no complete trace for request {request_id} within 10 s; received {} spans: {:?}", spans.len(),
            spans.iter().map(|s| s.name.clone()).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send(server: &TestServer, path: &str, key: Option<&str>, headers: &[(&str, &str)], body: &Value) -> reqwest::Response {
    let mut request = client().post(server.url(path)).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_traced_over_otlp() {
    let model = model_or_skip!();
    let received = Received::default();
    let endpoint = collector(received.clone()).await;
    let access = AccessControl::single_key(KEY, "default").unwrap();
    let server = TestServer::start_with_state(
        model,
        2048,
        |c| c.max_in_flight = 4,
        |state| state.with_access(access).with_tracer(Some(tracer(&endpoint, Duration::from_millis(100)))),
    );

    // 1. Chat with the caller's trace context.
    let prompt = "Name three colours of the rainbow.";
    let body = json!({"model": "default", "messages": [{"role": "user", "content": prompt}], "max_tokens": 8, "temperature": 0});
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let response = send(&server, "/v1/chat/completions", Some(KEY), &[("traceparent", &traceparent), ("tracestate", "vendor=1")], &body).await;
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    let our_traceparent = response.headers()["traceparent"].to_str().unwrap().to_string();
    let chat: Value = response.json().await.unwrap();
    let usage = &chat["usage"];

    let trace = wait_for_trace(&received, &request_id, 7).await;
    let root = &trace.root;
    assert_eq!(root.name, "POST /v1/chat/completions");
    assert_eq!(hex(&root.trace_id), CALLER_TRACE, "the caller's trace id");
    assert_eq!(hex(&root.parent_span_id), CALLER_SPAN, "the caller's span is the parent");
    assert_eq!(our_traceparent, format!("00-{CALLER_TRACE}-{}-01", hex(&root.span_id)), "traceparent response header");
    assert_eq!(trace.child_names(), ["auth_and_limits", "safety.input", "tokenize", "queue", "prefill", "decode", "stream"]);
    trace.assert_nested();
    assert_eq!(str_attr(root, "llmserve.request_id"), request_id);
    assert_eq!(str_attr(root, "llmserve.tenant"), "default");
    assert_eq!(str_attr(root, "gen_ai.request.model"), "default");
    assert_eq!(str_attr(root, "gen_ai.response.model"), "default");
    assert_eq!(str_attr(root, "gen_ai.operation.name"), "chat");
    assert_eq!(str_attr(root, "http.request.method"), "POST");
    assert_eq!(str_attr(root, "url.path"), "/v1/chat/completions");
    assert_eq!(int_attr(root, "http.response.status_code"), 200);
    assert_eq!(int_attr(root, "gen_ai.usage.input_tokens"), usage["prompt_tokens"].as_i64().unwrap());
    assert_eq!(int_attr(root, "gen_ai.usage.output_tokens"), usage["completion_tokens"].as_i64().unwrap());
    let cached = usage["prompt_tokens_details"]["cached_tokens"].as_i64().unwrap_or(0);
    assert_eq!(int_attr(root, "llmserve.cached_tokens"), cached);
    assert_eq!(int_attr(root, "llmserve.n"), 1);
    assert_eq!(int_attr(root, "gen_ai.request.max_tokens"), 8);
    match attribute(root, "gen_ai.response.finish_reasons") {
        Some(AnyValue::ArrayValue(a)) => {
            let reasons: Vec<AnyValue> = a.values.into_iter().filter_map(|v| v.value).collect();
            assert_eq!(reasons, vec![AnyValue::StringValue(chat["choices"][0]["finish_reason"].as_str().unwrap().into())]);
        }
        other => panic!("finish reasons: {other:?}"),
    }
    assert_ne!(root.status.as_ref().map_or(0, |s| s.code), StatusCode::Error as i32);
    // Never the prompt or the output text.
    let output = chat["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    for span in std::iter::once(root).chain(&trace.children) {
        for kv in &span.attributes {
            if let Some(AnyValue::StringValue(v)) = kv.value.as_ref().and_then(|v| v.value.clone()) {
                assert!(!v.contains("rainbow") && (output.len() < 8 || !v.contains(&output)), "text in {}.{}", span.name, kv.key);
            }
        }
    }

    // 2. A streamed completion without trace context: a new trace; tokenize comes before safety.
    let body = json!({"model": "default", "prompt": "The capital of France is", "max_tokens": 6, "temperature": 0,
        "stream": true, "stream_options": {"include_usage": true}});
    let response = send(&server, "/v1/completions", Some(KEY), &[("x-request-id", "otel-stream-1")], &body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events = sse_events(&text);
    let usage: Value = events.iter().rev().filter(|e| *e != "[DONE]").map(|e| serde_json::from_str::<Value>(e).unwrap()).find(|c| !c["usage"].is_null()).unwrap()["usage"].clone();
    let trace = wait_for_trace(&received, "otel-stream-1", 7).await;
    assert_eq!(trace.root.name, "POST /v1/completions");
    assert_ne!(hex(&trace.root.trace_id), CALLER_TRACE, "a fresh trace");
    assert_ne!(hex(&trace.root.trace_id), "0".repeat(32));
    assert!(trace.root.parent_span_id.is_empty(), "no parent without traceparent");
    assert_eq!(trace.child_names(), ["auth_and_limits", "tokenize", "safety.input", "queue", "prefill", "decode", "stream"]);
    trace.assert_nested();
    assert_eq!(int_attr(&trace.root, "gen_ai.usage.input_tokens"), usage["prompt_tokens"].as_i64().unwrap());
    assert_eq!(int_attr(&trace.root, "gen_ai.usage.output_tokens"), usage["completion_tokens"].as_i64().unwrap());
    assert_eq!(str_attr(&trace.root, "gen_ai.operation.name"), "text_completion");

    // 3. Refused at auth (401): the root and the one phase that ran; 4xx is not a server error.
    let body = json!({"model": "default", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2});
    let response = send(&server, "/v1/chat/completions", None, &[("x-request-id", "otel-401"), ("traceparent", "00-zz-bad-01")], &body).await;
    assert_eq!(response.status(), 401);
    let trace = wait_for_trace(&received, "otel-401", 1).await;
    assert_eq!(trace.child_names(), ["auth_and_limits"]);
    trace.assert_nested();
    assert_eq!(int_attr(&trace.root, "http.response.status_code"), 401);
    assert_eq!(str_attr(&trace.root, "llmserve.outcome"), "refused");
    assert!(trace.root.parent_span_id.is_empty(), "an invalid traceparent starts a new trace");
    assert_ne!(trace.root.status.as_ref().map_or(0, |s| s.code), StatusCode::Error as i32);

    // 4. Refused at admission (503: n = 5 > the cap of 4): error status, the phases that ran.
    let body = json!({"model": "default", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "n": 5});
    let response = send(&server, "/v1/chat/completions", Some(KEY), &[("x-request-id", "otel-503")], &body).await;
    assert_eq!(response.status(), 503);
    let trace = wait_for_trace(&received, "otel-503", 3).await;
    assert_eq!(trace.child_names(), ["auth_and_limits", "safety.input", "tokenize"]);
    trace.assert_nested();
    assert_eq!(int_attr(&trace.root, "http.response.status_code"), 503);
    assert_eq!(trace.root.status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32));
    assert_eq!(str_attr(&trace.root, "error.type"), "503");
    assert_eq!(str_attr(&trace.root, "llmserve.tenant"), "default");

    // 5. A client that gives up on a non-streamed request: the trace still ends, as a disconnect.
    let body = json!({"model": "default", "prompt": "1, 2, 3,", "max_tokens": 2000, "ignore_eos": true});
    let gave_up = reqwest::Client::new()
        .post(server.url("/v1/completions"))
        .bearer_auth(KEY)
        .header("x-request-id", "otel-gone")
        .timeout(Duration::from_secs(1))
        .json(&body)
        .send()
        .await;
    assert!(gave_up.is_err(), "2,000 tokens take longer than 1 s");
    let trace = wait_for_trace(&received, "otel-gone", 3).await;
    assert_eq!(str_attr(&trace.root, "llmserve.outcome"), "client_disconnected");
    assert!(attribute(&trace.root, "http.response.status_code").is_none(), "no response was sent");
    // No engine queue time comes for an abandoned request: no queue / prefill, but its decode (once
    // a token came, which on a loaded machine may not be within the second).
    let names = trace.child_names();
    assert_eq!(names[..3], ["auth_and_limits", "tokenize", "safety.input"]);
    assert!([&["decode", "stream"][..], &["stream"][..]].contains(&&names[3..]), "{names:?}");
    trace.assert_nested();

    // Every span came from our service; nothing was traced for other routes.
    let services: HashMap<String, usize> = received.0.lock().unwrap().iter().fold(HashMap::new(), |mut m, (s, _)| {
        *m.entry(s.clone()).or_default() += 1;
        m
    });
    assert_eq!(services.keys().collect::<Vec<_>>(), ["llmserve-test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_changes_nothing_for_requests() {
    let model = model_or_skip!();
    // A port that nothing listens on.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mut server =
        TestServer::start_with_state(model, 1024, |_| {}, |state| state.with_tracer(Some(tracer(&dead, Duration::from_millis(50)))));
    let body = json!({"model": "default", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4});
    for i in 0..3 {
        let response = send(&server, "/v1/chat/completions", None, &[("traceparent", &format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))], &body).await;
        assert_eq!(response.status(), 200, "request {i}");
        assert!(response.headers().contains_key("traceparent"));
        let json: Value = response.json().await.unwrap();
        assert!(json["usage"]["completion_tokens"].as_u64().unwrap() >= 1);
        // Let the batch processor try (and fail) to export between requests.
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    // Shutdown flushes into the void and still ends promptly.
    let started = Instant::now();
    tokio::task::spawn_blocking(move || server.join()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "shutdown took {:?}", started.elapsed());
}

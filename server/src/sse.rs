//! Server-sent events framing for streamed completions: `data: <json>\n\n` per chunk, then
//! `data: [DONE]\n\n` (OpenAI's stream protocol). Each chunk is its own body frame, so hyper writes
//! it to the socket as soon as it is produced (no buffering).

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use futures_util::Stream;
use llmserve_engine::StreamEvent;
use serde::Serialize;

use crate::error::ApiError;
use crate::generation::{ChoiceEvent, Generation};
use crate::openai::UsageBody;

/// One `data:` event with `value` as JSON.
pub fn data<T: Serialize>(value: &T) -> Bytes {
    let mut out = b"data: ".to_vec();
    // Serializing our own response types cannot fail (no maps with non-string keys).
    let _ = serde_json::to_writer(&mut out, value);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The stream terminator.
pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// A 200 `text/event-stream` response over `events`.
pub fn response<S>(events: S) -> Response
where
    S: Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
{
    let mut response = Response::new(Body::from_stream(events));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}


/// How one route turns a generation's events into chunks (chat vs completions shapes).
pub trait StreamFormat: Send + 'static {
    /// Chunks sent before any token (chat: each choice's role).
    fn opening(&mut self, generation: &Generation) -> Vec<Bytes>;
    /// Chunks for one event (already applied to `generation`); `Error` events are handled by the
    /// driver.
    fn on_event(&mut self, generation: &Generation, event: &ChoiceEvent) -> Vec<Bytes>;
    /// The final usage chunk (`choices: []`).
    fn usage_chunk(&self, usage: UsageBody) -> Bytes;
}

/// Drives a generation as an SSE body: opening chunks, one or more chunks per event, an error
/// event for an engine failure, the usage chunk when asked, then `[DONE]`. Dropping the body
/// (client gone) drops the generation, which aborts its engine requests.
pub fn stream_generation<F: StreamFormat>(generation: Generation, format: F, include_usage: bool) -> Response {
    struct Driver<F> {
        generation: Generation,
        format: F,
        include_usage: bool,
        pending: VecDeque<Bytes>,
        started: bool,
        ended: bool,
    }
    let driver = Driver { generation, format, include_usage, pending: VecDeque::new(), started: false, ended: false };
    let body = futures_util::stream::unfold(driver, |mut d| async move {
        loop {
            if let Some(chunk) = d.pending.pop_front() {
                return Some((Ok::<Bytes, Infallible>(chunk), d));
            }
            if d.ended {
                return None;
            }
            if !d.started {
                d.started = true;
                let opening = d.format.opening(&d.generation);
                d.pending.extend(opening);
                continue;
            }
            match d.generation.next().await {
                Some(event) => {
                    if let StreamEvent::Error { message, .. } = &event.event {
                        let error = ApiError::Engine { request_id: d.generation.request_id.clone(), message: message.clone() };
                        d.pending.push_back(data(&error.body()));
                    } else {
                        let chunks = d.format.on_event(&d.generation, &event);
                        d.pending.extend(chunks);
                    }
                }
                None => {
                    if d.include_usage {
                        let usage = d.generation.usage();
                        d.pending.push_back(d.format.usage_chunk(usage));
                    }
                    d.pending.push_back(done());
                    let status = if d.generation.engine_error().is_some() { "engine_error" } else { "ok" };
                    d.generation.finish_log(status);
                    d.ended = true;
                }
            }
        }
    });
    response(body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn framing() {
        assert_eq!(&super::data(&serde_json::json!({"a": 1}))[..], b"data: {\"a\":1}\n\n");
        assert_eq!(&super::done()[..], b"data: [DONE]\n\n");
    }
}

//! One streaming request to an OpenAI-compatible server and its timeline, measured the way vLLM's
//! `async_request_openai_completions` / `_chat_completions` measure it: the clock starts right before
//! the request is sent; every SSE chunk whose text (`choices[0].text`, or `choices[0].delta.content`
//! for chat) is non-empty is a content chunk — the first gives TTFT, each later one an ITL gap, the last
//! one the end-to-end latency; `usage` (asked for with `stream_options.include_usage`) gives the token
//! counts. Greedy sampling (temperature 0), as vLLM's benchmark sends.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::metrics::RequestTimeline;

/// Which OpenAI endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// `/v1/completions` with a text prompt.
    Openai,
    /// `/v1/chat/completions` with the prompt as one user message.
    OpenaiChat,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Openai => "openai",
            Backend::OpenaiChat => "openai-chat",
        }
    }

    pub fn default_endpoint(self) -> &'static str {
        match self {
            Backend::Openai => "/v1/completions",
            Backend::OpenaiChat => "/v1/chat/completions",
        }
    }
}

/// What every request of a run shares.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub backend: Backend,
    /// Base URL + endpoint.
    pub url: String,
    pub model: String,
    pub ignore_eos: bool,
    /// `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// Whole-request limit.
    pub timeout: Duration,
}

/// The request body vLLM's benchmark sends.
pub fn request_body(config: &ClientConfig, prompt: &str, max_tokens: u32) -> Value {
    let mut body = match config.backend {
        Backend::Openai => json!({"model": config.model, "prompt": prompt}),
        Backend::OpenaiChat => json!({"model": config.model, "messages": [{"role": "user", "content": prompt}]}),
    };
    let o = body.as_object_mut().expect("object");
    o.insert("max_tokens".into(), max_tokens.into());
    o.insert("temperature".into(), 0.0.into());
    o.insert("stream".into(), true.into());
    o.insert("stream_options".into(), json!({"include_usage": true}));
    if config.ignore_eos {
        o.insert("ignore_eos".into(), true.into());
    }
    body
}

/// Sends one request and follows its stream to the end. Never returns an error: a failed request is a
/// timeline with `success: false` and the reason.
pub async fn send(client: &reqwest::Client, config: &ClientConfig, prompt: &str, prompt_len: u64, max_tokens: u32) -> RequestTimeline {
    let mut timeline = RequestTimeline { prompt_len, ..Default::default() };
    let body = request_body(config, prompt, max_tokens);
    let start = Instant::now();
    let outcome = tokio::time::timeout(config.timeout, follow(client, config, &body, start, &mut timeline)).await;
    match outcome {
        Ok(Ok(())) => timeline.success = true,
        Ok(Err(e)) => timeline.error = e,
        Err(_) => timeline.error = format!("no complete response within {:.0} s (--request-timeout)", config.timeout.as_secs_f64()),
    }
    timeline
}

async fn follow(
    client: &reqwest::Client,
    config: &ClientConfig,
    body: &Value,
    start: Instant,
    timeline: &mut RequestTimeline,
) -> Result<(), String> {
    let mut req = client.post(&config.url).json(body);
    if let Some(key) = &config.api_key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(format!("HTTP {status}: {}", excerpt(&text)));
    }
    let mut parser = SseParser::default();
    let mut chunk_state = ChunkState { start, last: None };
    let mut stream = resp.bytes_stream();
    let mut done = false;
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.map_err(|e| format!("stream broken after {:.3} s: {e}", start.elapsed().as_secs_f64()))?;
        for data in parser.push(&bytes) {
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let now = Instant::now();
            let event: Value = serde_json::from_str(&data).map_err(|e| format!("a stream chunk is not JSON ({e}): {}", excerpt(&data)))?;
            chunk_state.apply(&event, now, config.backend, timeline)?;
        }
    }
    if !done {
        return Err("the stream ended without `data: [DONE]`".into());
    }
    if chunk_state.last.is_none() {
        return Err("the response carried no content (0 content chunks)".into());
    }
    Ok(())
}

/// The timing state of one stream.
struct ChunkState {
    start: Instant,
    last: Option<Instant>,
}

impl ChunkState {
    /// Applies one JSON chunk received at `now`.
    fn apply(&mut self, event: &Value, now: Instant, backend: Backend, t: &mut RequestTimeline) -> Result<(), String> {
        if let Some(err) = event.get("error") {
            return Err(format!("error event in the stream: {}", excerpt(&err.to_string())));
        }
        if let Some(usage) = event.get("usage").filter(|u| !u.is_null()) {
            if let Some(n) = usage.get("completion_tokens").and_then(Value::as_u64) {
                t.output_tokens = Some(n);
            }
            if let Some(n) = usage.get("prompt_tokens").and_then(Value::as_u64) {
                t.prompt_len = n;
            }
        }
        let text = event.get("choices").and_then(|c| c.get(0)).and_then(|c| match backend {
            Backend::Openai => c.get("text"),
            Backend::OpenaiChat => c.get("delta").and_then(|d| d.get("content")),
        });
        let Some(text) = text.and_then(Value::as_str).filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        let since_start = now.duration_since(self.start).as_secs_f64();
        match self.last {
            None => t.ttft = since_start,
            Some(last) => t.itl.push(now.duration_since(last).as_secs_f64()),
        }
        self.last = Some(now);
        t.latency = since_start;
        t.generated_text.push_str(text);
        Ok(())
    }
}

/// Splits an SSE byte stream into the payloads of its `data:` lines.
#[derive(Default)]
pub struct SseParser {
    pending: Vec<u8>,
}

impl SseParser {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut out = vec![];
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(data) = line.strip_prefix("data:") {
                out.push(data.trim_start().to_string());
            }
        }
        out
    }
}

fn excerpt(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_lines_and_comments() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: {\"a\"").is_empty());
        assert_eq!(p.push(b":1}\r\n\n: keep-alive\ndata: [DONE]\n\n"), vec!["{\"a\":1}".to_string(), "[DONE]".to_string()]);
    }

    #[test]
    fn timeline_from_chunks() {
        let start = Instant::now();
        let mut st = ChunkState { start, last: None };
        let mut t = RequestTimeline::default();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let chunk = |s: &str| json!({"choices": [{"index": 0, "text": s}]});
        // An empty first chunk (a role chunk in chat) is not content.
        st.apply(&chunk(""), at(50), Backend::Openai, &mut t).unwrap();
        st.apply(&chunk("Hel"), at(100), Backend::Openai, &mut t).unwrap();
        st.apply(&chunk("lo"), at(130), Backend::Openai, &mut t).unwrap();
        st.apply(&chunk(" world"), at(190), Backend::Openai, &mut t).unwrap();
        // The finish chunk (empty text) and the usage chunk do not move the end.
        st.apply(&json!({"choices": [{"index": 0, "text": "", "finish_reason": "length"}]}), at(300), Backend::Openai, &mut t).unwrap();
        st.apply(&json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 4}}), at(310), Backend::Openai, &mut t)
            .unwrap();
        assert!((t.ttft - 0.1).abs() < 1e-9);
        assert_eq!(t.itl.len(), 2);
        assert!((t.itl[0] - 0.03).abs() < 1e-9 && (t.itl[1] - 0.06).abs() < 1e-9);
        assert!((t.latency - 0.19).abs() < 1e-9);
        assert_eq!((t.prompt_len, t.output_tokens), (12, Some(4)));
        assert_eq!(t.generated_text, "Hello world");
    }

    #[test]
    fn chat_chunks_and_error_events() {
        let start = Instant::now();
        let mut st = ChunkState { start, last: None };
        let mut t = RequestTimeline::default();
        st.apply(&json!({"choices": [{"delta": {"role": "assistant"}}]}), start, Backend::OpenaiChat, &mut t).unwrap();
        assert!(st.last.is_none());
        st.apply(&json!({"choices": [{"delta": {"content": "Hi"}}]}), start + Duration::from_millis(20), Backend::OpenaiChat, &mut t)
            .unwrap();
        assert!((t.ttft - 0.02).abs() < 1e-9);
        let err = st.apply(&json!({"error": {"message": "engine died"}}), start, Backend::OpenaiChat, &mut t).unwrap_err();
        assert!(err.contains("engine died"));
    }

    #[test]
    fn body_has_what_vllm_sends() {
        let cfg = ClientConfig {
            backend: Backend::OpenaiChat,
            url: "http://x/v1/chat/completions".into(),
            model: "m".into(),
            ignore_eos: true,
            api_key: None,
            timeout: Duration::from_secs(1),
        };
        let b = request_body(&cfg, "hi", 7);
        assert_eq!(b["messages"][0]["content"], "hi");
        assert_eq!(b["max_tokens"], 7);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["ignore_eos"], true);
        assert_eq!(b["temperature"], 0.0);
    }
}

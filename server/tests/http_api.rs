//! The real server on a loopback port, driven over HTTP: chat and completions (plain and
//! streamed), n = 2, stop strings, seeds, logprobs and prompt scoring, every error case with its
//! status and body, client disconnects freeing KV blocks, `/health`, `/metrics`, tokenization.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn chat(content: &str, extra: Value) -> Value {
    let mut body = json!({"model": "default", "messages": [{"role": "user", "content": content}]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

fn completion(prompt: Value, extra: Value) -> Value {
    let mut body = json!({"model": "default", "prompt": prompt});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_plain_and_streamed_agree() {
    let model = model_or_skip!();
    let server = TestServer::start(model, 2048, |_| {});
    let body = chat("Name three colours.", json!({"max_tokens": 12, "temperature": 0}));
    let response = client().post(server.url("/v1/chat/completions")).header("x-request-id", "test-id-1").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "test-id-1");
    let plain: Value = response.json().await.unwrap();
    assert!(plain["id"].as_str().unwrap().starts_with("chatcmpl-"), "{plain}");
    assert_eq!(plain["object"], "chat.completion");
    assert_eq!(plain["model"], "default");
    assert!(plain["created"].as_u64().unwrap() > 1_700_000_000);
    assert!(plain["system_fingerprint"].as_str().unwrap().starts_with("fp_llmserve"));
    let choice = &plain["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["logprobs"].is_null());
    let text = choice["message"]["content"].as_str().unwrap().to_string();
    assert!(!text.is_empty());
    assert!(["stop", "length"].contains(&choice["finish_reason"].as_str().unwrap()));
    // usage: real tokenizer counts (the same messages through /tokenize).
    let (_, _, tokenized) = post_json(&server.url("/tokenize"), &json!({"messages": body["messages"]})).await;
    let usage = &plain["usage"];
    assert_eq!(usage["prompt_tokens"], tokenized["count"]);
    let completion_tokens = usage["completion_tokens"].as_u64().unwrap();
    assert!((1..=12).contains(&completion_tokens));
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), usage["prompt_tokens"].as_u64().unwrap() + completion_tokens);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (status, events) = post_stream(&server.url("/v1/chat/completions"), &streamed).await;
    assert_eq!(status, 200);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let id = chunks[0]["id"].clone();
    let mut content = String::new();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id, "one id per stream");
        if let Some(t) = c["choices"].get(0).and_then(|ch| ch["delta"]["content"].as_str()) {
            content.push_str(t);
        }
    }
    assert_eq!(content, text, "greedy stream = greedy non-stream");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], choice["finish_reason"]);
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"].as_array().unwrap().len(), 0);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], usage["completion_tokens"]);
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c["usage"].is_null()), "usage null before the last chunk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_n2_seeds_and_stop_strings() {
    let model = model_or_skip!();
    let server = TestServer::start(model, 2048, |_| {});
    let url = server.url("/v1/completions");
    // n = 2 with a seed: two choices, reproducible.
    let body = completion(json!("Once upon a time"), json!({"max_tokens": 8, "n": 2, "seed": 7, "temperature": 1.0}));
    let (status, headers, first) = post_json(&url, &body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(headers["x-request-id"].to_str().unwrap().len(), 32, "generated request id");
    assert_eq!(first["object"], "text_completion");
    assert!(first["id"].as_str().unwrap().starts_with("cmpl-"));
    let choices = first["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2);
    assert_eq!(choices[0]["index"], 0);
    assert_eq!(choices[1]["index"], 1);
    let completion_tokens = first["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((2..=16).contains(&completion_tokens), "{first}");
    let (_, _, again) = post_json(&url, &body).await;
    for i in 0..2 {
        assert_eq!(again["choices"][i]["text"], first["choices"][i]["text"], "same seed, same text");
    }

    // Stop strings: cut the greedy text at a string inside it.
    let greedy = completion(json!("The capital of France is Paris. The capital of Germany is"), json!({"max_tokens": 16, "temperature": 0, "ignore_eos": true}));
    let (_, _, full) = post_json(&url, &greedy).await;
    let text = full["choices"][0]["text"].as_str().unwrap().to_string();
    let chars: Vec<char> = text.chars().collect();
    assert!(chars.len() >= 8, "{text:?}");
    let stop: String = chars[4..7].iter().collect();
    let cut = text.find(&stop).unwrap();
    let mut with_stop = greedy.clone();
    with_stop["stop"] = json!([stop, "zzzz-never"]);
    let (status, _, stopped) = post_json(&url, &with_stop).await;
    assert_eq!(status, 200);
    assert_eq!(stopped["choices"][0]["text"].as_str().unwrap(), &text[..cut], "text ends before the stop string");
    assert_eq!(stopped["choices"][0]["finish_reason"], "stop");
    // Streamed: the same cut.
    with_stop["stream"] = json!(true);
    let (_, events) = post_stream(&url, &with_stop).await;
    let streamed: String = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap()["choices"][0]["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(streamed, &text[..cut]);

    // Several prompts: choice index = prompt · n + sample.
    let multi = completion(json!(["Hello", "Goodbye"]), json!({"max_tokens": 2, "n": 2, "temperature": 0}));
    let (status, _, out) = post_json(&url, &multi).await;
    assert_eq!(status, 200, "{out}");
    let idx: Vec<u64> = out["choices"].as_array().unwrap().iter().map(|c| c["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, vec![0, 1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logprobs_and_prompt_scoring() {
    let model = model_or_skip!();
    let server = TestServer::start(model, 2048, |_| {});
    let body = chat("Count to five.", json!({"max_tokens": 6, "temperature": 0, "logprobs": true, "top_logprobs": 3}));
    let (status, _, out) = post_json(&server.url("/v1/chat/completions"), &body).await;
    assert_eq!(status, 200, "{out}");
    let content = out["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(content.len() as u64, out["usage"]["completion_tokens"].as_u64().unwrap());
    for position in content {
        let lp = position["logprob"].as_f64().unwrap();
        assert!(lp <= 0.0);
        let top = position["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        assert!(top.windows(2).all(|w| w[0]["logprob"].as_f64() >= w[1]["logprob"].as_f64()), "sorted");
        // Greedy: the chosen token is the most likely one.
        assert_eq!(position["token"], top[0]["token"]);
        assert!((top[0]["logprob"].as_f64().unwrap() - lp).abs() < 1e-5);
        assert!(position["bytes"].is_array());
    }

    // Prompt scoring (lm-evaluation-harness): echo + logprobs + max_tokens 0.
    let prompt = "The quick brown fox jumps over the lazy dog";
    let (_, _, tokenized) = post_json(&server.url("/tokenize"), &json!({"prompt": prompt})).await;
    let n_prompt = tokenized["count"].as_u64().unwrap() as usize;
    let body = completion(json!(prompt), json!({"max_tokens": 0, "echo": true, "logprobs": 1, "temperature": 0}));
    let (status, _, scored) = post_json(&server.url("/v1/completions"), &body).await;
    assert_eq!(status, 200, "{scored}");
    let choice = &scored["choices"][0];
    assert_eq!(choice["text"], prompt);
    let lp = &choice["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), n_prompt);
    assert_eq!(lp["text_offset"][0], 0);
    assert!(lp["token_logprobs"][0].is_null() && lp["top_logprobs"][0].is_null());
    for i in 1..n_prompt {
        assert!(lp["token_logprobs"][i].as_f64().unwrap() <= 0.0);
        let top = lp["top_logprobs"][i].as_object().unwrap();
        assert!(!top.is_empty() && top.len() <= 2, "top-1 plus the chosen token");
    }
    assert_eq!(scored["usage"]["completion_tokens"], 0);
    assert_eq!(scored["usage"]["prompt_tokens"].as_u64().unwrap() as usize, n_prompt);
    // Echo with generation: prompt positions then generated ones, offsets increasing.
    let body = completion(json!(prompt), json!({"max_tokens": 3, "echo": true, "logprobs": 0, "temperature": 0, "ignore_eos": true}));
    let (_, _, both) = post_json(&server.url("/v1/completions"), &body).await;
    let lp = &both["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), n_prompt + 3);
    let offsets: Vec<u64> = lp["text_offset"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
    assert!(both["choices"][0]["text"].as_str().unwrap().starts_with(prompt));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_its_status_and_body() {
    let model = model_or_skip!();
    let server = TestServer::start(model, 2048, |c| c.max_body_bytes = 4096);
    let chat_url = server.url("/v1/chat/completions");
    let raw = |body: &'static str| {
        let url = chat_url.clone();
        async move {
            let r = client().post(url).header("content-type", "application/json").body(body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = raw("{\"messages\": [").await;
    assert_eq!(status, 400);
    let e = assert_error_shape(&body);
    assert_eq!(e["type"], "invalid_request_error");
    assert!(e["param"].is_null());

    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (chat("hi", json!({"tools": []})), 400, "tools", None),
        (chat("hi", json!({"temperature": -1})), 400, "temperature", None),
        (chat("hi", json!({"temperature": "warm"})), 400, "temperature", None),
        (chat("hi", json!({"top_p": 0})), 400, "top_p", None),
        (chat("hi", json!({"n": 0})), 400, "n", None),
        (chat("hi", json!({"top_logprobs": 30, "logprobs": true})), 400, "top_logprobs", None),
        (chat("hi", json!({"stream_options": {"include_usage": true}})), 400, "stream_options", None),
        (chat("hi", json!({"max_tokens": 0})), 400, "max_tokens", None),
        (json!({"messages": [{"role": "wizard", "content": "x"}]}), 400, "messages[0].role", None),
        (json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}), 400, "messages[0].content[0].type", None),
        (json!({"messages": []}), 400, "messages", None),
        (chat("hi", json!({"max_tokens": 1_000_000})), 400, "messages", Some("context_length_exceeded")),
        (chat("hi", json!({"model": "gpt-17"})), 404, "model", Some("model_not_found")),
    ];
    for (body, status, param, code) in cases {
        let (got, _, response) = post_json(&chat_url, &body).await;
        assert_eq!(got, status, "{body} → {response}");
        let e = assert_error_shape(&response);
        assert_eq!(e["param"], param, "{body} → {response}");
        if let Some(code) = code {
            assert_eq!(e["code"], code, "{response}");
        }
    }
    let (_, _, context) = post_json(&chat_url, &chat("hi", json!({"max_tokens": 1_000_000}))).await;
    let message = context["error"]["message"].as_str().unwrap();
    let limit = server.state.engine.limits().max_model_len.to_string();
    assert!(message.contains(&limit) && message.contains("1000000"), "{message}");
    // Completions: token ids outside the vocabulary, unknown field.
    let (status, _, body) = post_json(&server.url("/v1/completions"), &completion(json!([1, 99999999]), json!({}))).await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("prompt")), "{body}");
    let (status, _, body) = post_json(&server.url("/v1/completions"), &completion(json!("x"), json!({"best_of": 2}))).await;
    assert_eq!((status, body["error"]["param"].as_str()), (400, Some("best_of")), "{body}");

    // Body over the limit: 413 in the OpenAI shape.
    let huge = chat(&"a".repeat(10_000), json!({}));
    let (status, _, body) = post_json(&chat_url, &huge).await;
    assert_eq!(status, 413);
    assert_eq!(assert_error_shape(&body)["code"], "payload_too_large");
    // Unknown route and wrong method: JSON errors too.
    let r = client().get(server.url("/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_error_shape(&r.json().await.unwrap());
    let r = client().get(server.url("/v1/chat/completions")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_error_shape(&r.json().await.unwrap());

    // The engine gone: /health 503 and a generation request 500 naming the request id.
    let r = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    server.state.engine.shutdown();
    let r = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let r = client().post(&chat_url).header("x-request-id", "dead-engine-1").json(&chat("hi", json!({"max_tokens": 2}))).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    let e = assert_error_shape(&body);
    assert_eq!(e["type"], "server_error");
    assert!(e["message"].as_str().unwrap().contains("dead-engine-1"), "{body}");
    let metrics = metrics_text(&server).await;
    for status in ["400", "404", "413", "500"] {
        assert!(metric(&metrics, &format!("llmserve_requests_total{{status=\"{status}\"}}")).unwrap_or(0.0) >= 1.0, "{status}\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_cap_answers_503_with_retry_after() {
    let model = model_or_skip!();
    let server = TestServer::start(model, 2048, |c| c.max_in_flight = 1);
    let long = chat("Tell me a long story.", json!({"max_tokens": 400, "ignore_eos": true, "stream": true}));
    let held = client().post(server.url("/v1/chat/completions")).json(&long).send().await.unwrap();
    assert_eq!(held.status(), 200);
    let (status, headers, body) = post_json(&server.url("/v1/completions"), &completion(json!("hi"), json!({"max_tokens": 1}))).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(assert_error_shape(&body)["code"], "server_overloaded");
    drop(held);
    // The slot comes back once the dropped stream is noticed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _) = post_json(&server.url("/v1/completions"), &completion(json!("hi"), json!({"max_tokens": 1}))).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "admission slot never released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the engine holds no request and every KV block is free again, per `/metrics`.
async fn wait_until_blocks_free(server: &TestServer) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = metrics_text(server).await;
        let running = metric(&text, "llmserve_num_requests_running").unwrap();
        let free = metric(&text, "llmserve_kv_cache_free_blocks").unwrap();
        let total = metric(&text, "llmserve_kv_cache_total_blocks").unwrap();
        if running == 0.0 && free == total && total > 0.0 {
            return text;
        }
        assert!(Instant::now() < deadline, "blocks not returned:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_aborts_and_frees_blocks() {
    let model = model_or_skip!();
    let server = TestServer::start(model, 2048, |_| {});
    // Streamed: read two chunks, then hang up.
    let body = chat("Write a very long essay about the sea.", json!({"max_tokens": 500, "ignore_eos": true, "stream": true}));
    let mut response = client().post(server.url("/v1/chat/completions")).json(&body).send().await.unwrap();
    let mut chunks = 0;
    while chunks < 3 {
        let c = response.chunk().await.unwrap().expect("stream continues");
        chunks += c.iter().filter(|&&b| b == b'\n').count() / 2;
    }
    let during = metrics_text(&server).await;
    assert!(metric(&during, "llmserve_kv_cache_free_blocks") < metric(&during, "llmserve_kv_cache_total_blocks"), "{during}");
    drop(response);
    let after = wait_until_blocks_free(&server).await;
    assert_eq!(metric(&after, "llmserve_request_finished_total{finish_reason=\"abort\"}"), Some(1.0), "{after}");

    // Not streamed: the connection closes while the engine generates.
    let payload = serde_json::to_vec(&chat("Write a very long poem.", json!({"max_tokens": 500, "ignore_eos": true}))).unwrap();
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&payload).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&metrics_text(&server).await, "llmserve_num_requests_running") != Some(1.0) {
        assert!(Instant::now() < deadline, "request never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(socket);
    let after = wait_until_blocks_free(&server).await;
    assert_eq!(metric(&after, "llmserve_request_finished_total{finish_reason=\"abort\"}"), Some(2.0), "{after}");
    assert_eq!(metric(&after, "llmserve_num_requests_in_flight"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_metrics_and_tokenizer_routes() {
    let model = model_or_skip!();
    let server = TestServer::start(model, 2048, |_| {});
    let models: Value = client().get(server.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "default");
    assert_eq!(models["data"][0]["object"], "model");
    let health = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let (status, _, t) = post_json(&server.url("/tokenize"), &json!({"prompt": "Hello world"})).await;
    assert_eq!(status, 200);
    assert_eq!(t["count"].as_u64().unwrap() as usize, t["tokens"].as_array().unwrap().len());
    let (status, _, d) = post_json(&server.url("/detokenize"), &json!({"tokens": t["tokens"]})).await;
    assert_eq!(status, 200);
    assert_eq!(d["prompt"], "Hello world");
    let (status, _, e) = post_json(&server.url("/tokenize"), &json!({})).await;
    assert_eq!(status, 400, "{e}");
    // Metrics after one request: latency histograms and token counters move.
    let (status, _, _) = post_json(&server.url("/v1/completions"), &completion(json!("Hi"), json!({"max_tokens": 3, "ignore_eos": true}))).await;
    assert_eq!(status, 200);
    let text = metrics_text(&server).await;
    assert_eq!(metric(&text, "llmserve_time_to_first_token_seconds_count"), Some(1.0), "{text}");
    assert_eq!(metric(&text, "llmserve_e2e_request_latency_seconds_count"), Some(1.0));
    assert_eq!(metric(&text, "llmserve_queue_time_seconds_count"), Some(1.0));
    assert_eq!(metric(&text, "llmserve_inter_token_latency_seconds_count"), Some(2.0));
    assert_eq!(metric(&text, "llmserve_generation_tokens_total"), Some(3.0));
    assert!(metric(&text, "llmserve_prompt_tokens_total").unwrap() >= 1.0);
    assert_eq!(metric(&text, "llmserve_requests_total{status=\"200\"}"), Some(1.0));
    assert_eq!(metric(&text, "llmserve_engine_alive"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests_and_refuses_new_ones() {
    let model = model_or_skip!();
    let mut server = TestServer::start(model, 2048, |_| {});
    let body = chat("Count slowly.", json!({"max_tokens": 24, "ignore_eos": true, "stream": true}));
    let mut response = client().post(server.url("/v1/chat/completions")).json(&body).send().await.unwrap();
    let mut text = String::from_utf8(response.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    server.begin_shutdown();
    // New requests are refused: 503 on a kept-alive connection, or no connection at all.
    let mut refused = false;
    for _ in 0..100 {
        match client().post(server.url("/v1/completions")).json(&completion(json!("hi"), json!({"max_tokens": 1}))).send().await {
            Ok(r) if r.status() == 503 => refused = true,
            Ok(r) => assert_eq!(r.status(), 200, "before the drain began"),
            Err(e) => refused = e.is_connect() || e.is_request(),
        }
        if refused {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "new requests still accepted while draining");
    // The in-flight stream still runs to its end.
    while let Some(chunk) = response.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let finish: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "length", "{text}");
    server.join();
    assert!(!server.state.engine.is_alive(), "engine stopped with the server");
}

/// Raw HTTP: garbage on the socket gets an HTTP error answer, not a reset; the server stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_requests_get_answers() {
    let model = model_or_skip!();
    let server = TestServer::start(model, 1024, |_| {});
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    socket.write_all(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n\xff\xfe\x00{]").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), socket.read(&mut buf)).await.unwrap().unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let r = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

//! Shared helpers of the HTTP tests: the default model (loaded once), a real server on a free
//! loopback port running on its own thread and runtime, and small HTTP / SSE utilities.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use llmserve_engine::{CpuBackendConfig, EngineConfig, EngineHandle};
use llmserve_models::chat_template::ChatTemplate;
use llmserve_models::default_model;
use llmserve_models::model::LoadedModel;
use llmserve_scheduler::SchedulerConfig;
use llmserve_server::{AppState, ServerConfig};
use serde_json::Value;

/// The default model, loaded once per test binary; `None` (test skipped, reason printed) when it
/// is not pulled outside CI.
pub fn model() -> Option<&'static LoadedModel> {
    static MODEL: OnceLock<Option<LoadedModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| default_model::for_tests().map(|p| LoadedModel::from_gguf(&p).expect("default model loads")))
        .as_ref()
}

/// The default model, or `return` from the test (skipped, reason printed) when it is not pulled.
macro_rules! model_or_skip {
    () => {
        match common::model() {
            Some(m) => m,
            None => return,
        }
    };
}

/// A running server; dropping it shuts it down (drain, then engine stop).
pub struct TestServer {
    pub base: String,
    pub state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// A server on the default model with a KV cache of `kv_cache_tokens`, `tweak` applied to its
    /// config.
    pub fn start(model: &LoadedModel, kv_cache_tokens: usize, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        TestServer::start_with_access(model, kv_cache_tokens, tweak, None)
    }

    /// [`TestServer::start`] with an access configuration (keys, limits, safety profiles); with a
    /// tenants file the server also reloads it on SIGHUP, as `llmserve serve` does.
    pub fn start_with_access(
        model: &LoadedModel,
        kv_cache_tokens: usize,
        tweak: impl FnOnce(&mut ServerConfig),
        access: Option<llmserve_server::access::AccessControl>,
    ) -> TestServer {
        TestServer::start_with_state(model, kv_cache_tokens, tweak, |state| match access {
            Some(access) => state.with_access(access),
            None => state,
        })
    }

    /// [`TestServer::start`] with `customize` applied to the state before it is shared (access
    /// control, tracing).
    pub fn start_with_state(
        model: &LoadedModel,
        kv_cache_tokens: usize,
        tweak: impl FnOnce(&mut ServerConfig),
        customize: impl FnOnce(AppState) -> AppState,
    ) -> TestServer {
        let defaults = EngineConfig::default();
        let config = EngineConfig {
            cpu: CpuBackendConfig { threads: 2, kv_cache_tokens, ..defaults.cpu },
            scheduler: SchedulerConfig { max_num_seqs: 32, ..defaults.scheduler },
            ..defaults
        };
        let engine = EngineHandle::cpu(model, config).expect("engine starts");
        let tokenizer = Arc::new(model.tokenizer.clone().expect("tokenizer"));
        let template = ChatTemplate::new(
            model.chat_template().expect("chat template"),
            tokenizer.bos_token().map(String::from),
            tokenizer.eos_token().map(String::from),
        )
        .expect("template compiles");
        let mut server_config = ServerConfig::new("default");
        server_config.shutdown_timeout = Duration::from_secs(5);
        tweak(&mut server_config);
        let state = Arc::new(customize(AppState::new(server_config, engine, tokenizer, Some(template))));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let server_state = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                if matches!(server_state.access.mode(), llmserve_server::access::AccessMode::TenantsFile(_)) {
                    // Installed before the address is published: a SIGHUP can never hit the default
                    // action (terminate) once the test knows the server is up.
                    let reloads = llmserve_server::watch_sighup(Arc::clone(&server_state)).expect("SIGHUP handler");
                    tokio::spawn(reloads);
                }
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let _ = llmserve_server::serve(listener, server_state, async {
                    let _ = shutdown_rx.await;
                })
                .await;
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("server binds");
        TestServer { base: format!("http://{addr}"), state, shutdown: Some(shutdown_tx), thread: Some(thread) }
    }

    /// Sends the shutdown signal (the server starts draining) without waiting for it to stop.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the server has stopped.
    pub fn join(&mut self) {
        self.begin_shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An HTTP client with a bound on every request (no test can hang).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

/// POSTs `body` and returns (status, headers, JSON).
pub async fn post_json(url: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client().post(url).json(body).send().await.expect("request sent");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, headers, json)
}

/// The `data:` payloads of an SSE body, in order (`[DONE]` included as the string).
pub fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| e.strip_prefix("data: ").unwrap_or_else(|| panic!("not an SSE data event: {e:?}")).to_string())
        .collect()
}

/// POSTs a streaming request and returns its status and events.
pub async fn post_stream(url: &str, body: &Value) -> (u16, Vec<String>) {
    let r = client().post(url).json(body).send().await.expect("request sent");
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.expect("body");
    if status == 200 {
        assert_eq!(content_type.as_deref(), Some("text/event-stream"));
    }
    (status, sse_events(&text))
}

/// The value of an unlabelled series (or a fully written `name{labels}`) in `/metrics` text.
/// The value of the first sample of `series` (`name` or `name{label="v",…}`) in a scrape: the name must
/// be equal and the given labels a subset of the sample's (every series also carries `model`).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    let (name, wanted) = split_series(series);
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (sample, value) = line.rsplit_once(' ')?;
        let (sample_name, labels) = split_series(sample);
        (sample_name == name && wanted.iter().all(|w| labels.contains(w))).then(|| value.trim().parse().ok())?
    })
}

/// `name{a="x",b="y"}` → (`name`, [`a="x"`, `b="y"`]). Label values in these tests hold no commas.
fn split_series(series: &str) -> (&str, Vec<&str>) {
    match series.split_once('{') {
        Some((name, rest)) => (name, rest.trim_end_matches('}').split(',').filter(|l| !l.is_empty()).collect()),
        None => (series, Vec::new()),
    }
}

pub async fn metrics_text(server: &TestServer) -> String {
    client().get(server.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

/// Asserts the OpenAI error shape and returns the `error` object.
pub fn assert_error_shape(body: &Value) -> &Value {
    let e = &body["error"];
    assert!(e["message"].is_string() && !e["message"].as_str().unwrap().is_empty(), "{body}");
    assert!(e["type"].is_string(), "{body}");
    assert!(e.get("param").is_some() && e.get("code").is_some(), "{body}");
    e
}

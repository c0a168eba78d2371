//! `llmserve bench serve`: one benchmark run against any OpenAI-compatible server, organised like
//! vLLM's `benchmark()`: build the workload, send one test request to check the setup, then send
//! every request at its arrival time (a `--max-concurrency` cap is taken inside each request, so the
//! clock of a request starts when it is actually sent), wait for all, and compute the metrics over
//! the wall time of the whole run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;

use crate::arrival::send_times;
use crate::client::{self, Backend, ClientConfig};
use crate::dataset::args::WorkloadArgs;
use crate::dataset::{DatasetError, PromptTokenizer, SampleRequest};
use crate::hardware::{default_hardware, default_hardware_class};
use crate::metrics::{compute_metrics, GoodputSlo, RequestTimeline};
use crate::result::{BenchResult, RequestRate};

/// The workload and client flags shared by `bench serve` and `bench sweep`.
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// Server to benchmark (any OpenAI-compatible server: llmserve, vLLM, llama-server, SGLang).
    #[arg(long = "base-url", default_value = "http://127.0.0.1:8000")]
    pub base_url: String,
    /// `openai` (/v1/completions) or `openai-chat` (/v1/chat/completions).
    #[arg(long, value_enum, default_value = "openai")]
    pub backend: Backend,
    /// Path appended to --base-url (default: the backend's).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Model name sent in requests (default: the first model the server lists at /v1/models).
    #[arg(long)]
    pub model: Option<String>,
    /// Bearer token for servers that need one.
    #[arg(long = "api-key", env = "LLMSERVE_BENCH_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Tokenizer used to build prompts of the asked lengths: a .gguf file, a directory with
    /// tokenizer.json, or `default` (the default model's, fetched if missing).
    #[arg(long, default_value = "default")]
    pub tokenizer: String,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Requests per second (Poisson arrivals with --burstiness 1), or `inf` to send all at once.
    #[arg(long = "request-rate", default_value = "inf")]
    pub request_rate: RequestRate,
    /// Gamma shape of the arrival gaps: 1 = Poisson, < 1 burstier, > 1 more regular.
    #[arg(long, default_value_t = 1.0)]
    pub burstiness: f64,
    /// At most this many requests in flight (default: no cap).
    #[arg(long = "max-concurrency")]
    pub max_concurrency: Option<usize>,
    /// Ask the server to ignore end-of-sequence tokens (always generate --output-len tokens).
    #[arg(long = "ignore-eos")]
    pub ignore_eos: bool,
    /// Goodput objectives, e.g. `--goodput ttft:500 tpot:50 e2el:5000` (milliseconds).
    #[arg(long, num_args = 1..)]
    pub goodput: Vec<String>,
    /// Latency percentiles to report.
    #[arg(long, value_delimiter = ',', default_value = "50,90,99")]
    pub percentiles: Vec<f64>,
    /// Write the result (vLLM's JSON fields) to this file.
    #[arg(long = "result-json")]
    pub result_json: Option<PathBuf>,
    /// Write PNG plots into this directory.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Name of the server in results and reports (e.g. llmserve, llama-server, vllm).
    #[arg(long, default_value = "llmserve")]
    pub label: String,
    /// The machine under test (default: this machine's CPU or GPU).
    #[arg(long)]
    pub hardware: Option<String>,
    /// Class for comparing with published anchors: H100, H200, A100, cpu-… (default: derived).
    #[arg(long = "hardware-class")]
    pub hardware_class: Option<String>,
    /// Give up on a request after this many seconds.
    #[arg(long = "request-timeout", default_value_t = 600.0)]
    pub request_timeout: f64,
    /// No progress bar.
    #[arg(long = "no-progress")]
    pub no_progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("the server at {url} is not usable: {reason}")]
    Server { url: String, reason: String },
    #[error("the test request failed, so the run did not start (check --base-url, --endpoint, --model, --api-key): {0}")]
    TestRequest(String),
    #[error("writing {0}: {1}")]
    Write(String, #[source] std::io::Error),
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
}

impl ServeArgs {
    fn validate(&self) -> Result<(), BenchError> {
        if self.workload.num_prompts == 0 {
            return Err(BenchError::Invalid("--num-prompts must be at least 1".into()));
        }
        if self.max_concurrency == Some(0) {
            return Err(BenchError::Invalid("--max-concurrency must be at least 1 (leave it out for no cap)".into()));
        }
        if let Some(p) = self.percentiles.iter().find(|p| !(**p > 0.0 && **p <= 100.0)) {
            return Err(BenchError::Invalid(format!("--percentiles must be in (0, 100], got {p}")));
        }
        if !(self.request_timeout.is_finite() && self.request_timeout > 0.0) {
            return Err(BenchError::Invalid("--request-timeout must be a positive number of seconds".into()));
        }
        self.workload.spec()?;
        GoodputSlo::parse(&self.goodput).map_err(BenchError::Invalid)?;
        Ok(())
    }
}

/// A prepared run: the workload built once (a sweep reuses it at every load).
pub struct Prepared {
    pub requests: Vec<SampleRequest>,
    pub model: String,
    pub config: ClientConfig,
    pub tokenizer: Arc<dyn PromptTokenizer>,
}

/// Builds the workload and resolves the model name.
pub async fn prepare(args: &ServeArgs, tokenizer: Arc<dyn PromptTokenizer>) -> Result<Prepared, BenchError> {
    args.validate()?;
    let requests = args.workload.spec()?.build(args.workload.num_prompts, tokenizer.as_ref(), args.workload.seed)?;
    let http = http_client()?;
    let base = args.base_url.trim_end_matches('/').to_string();
    let model = match &args.model {
        Some(m) => m.clone(),
        None => first_model(&http, &base, args.api_key.as_deref()).await?,
    };
    let endpoint = args.endpoint.clone().unwrap_or_else(|| args.backend.default_endpoint().to_string());
    let config = ClientConfig {
        backend: args.backend,
        url: format!("{base}{endpoint}"),
        model: model.clone(),
        ignore_eos: args.ignore_eos,
        api_key: args.api_key.clone(),
        timeout: Duration::from_secs_f64(args.request_timeout),
    };
    Ok(Prepared { requests, model, config, tokenizer })
}

/// A fresh connection per request: servers close kept-alive connections on their own schedule
/// (llama-server's cpp-httplib after a streamed response), and a request sent on a connection the
/// server just closed fails without having reached it. A loopback connect costs ~0.1 ms, alike for all.
fn http_client() -> Result<reqwest::Client, BenchError> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| BenchError::Invalid(format!("building the HTTP client: {e}")))
}

async fn first_model(http: &reqwest::Client, base: &str, api_key: Option<&str>) -> Result<String, BenchError> {
    let url = format!("{base}/v1/models");
    let err = |reason: String| BenchError::Server { url: url.clone(), reason };
    let mut req = http.get(&url).timeout(Duration::from_secs(30));
    if let Some(k) = api_key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.map_err(|e| err(format!("{e} (is it running? pass --model to skip this lookup)")))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {} listing models (pass --model)", resp.status())));
    }
    let v: serde_json::Value = resp.json().await.map_err(|e| err(format!("/v1/models is not JSON: {e}")))?;
    v["data"][0]["id"].as_str().map(str::to_string).ok_or_else(|| err("/v1/models lists no model (pass --model)".into()))
}

/// One run at `rate` / `max_concurrency` over the prepared workload.
pub async fn run_once(
    args: &ServeArgs,
    prepared: &Prepared,
    rate: RequestRate,
    max_concurrency: Option<usize>,
) -> Result<BenchResult, BenchError> {
    let http = http_client()?;
    let first = &prepared.requests[0];
    let test = client::send(&http, &prepared.config, &first.prompt, first.prompt_len, first.output_len.min(16)).await;
    if !test.success {
        return Err(BenchError::TestRequest(test.error));
    }
    let times = send_times(prepared.requests.len(), rate, args.burstiness, args.workload.seed).map_err(BenchError::Invalid)?;
    let progress = if args.no_progress { ProgressBar::hidden() } else { ProgressBar::new(prepared.requests.len() as u64) };
    progress.set_style(
        ProgressStyle::with_template("{prefix} [{elapsed_precise}] {bar:40} {pos}/{len} requests ({per_sec})")
            .expect("valid template"),
    );
    progress.set_prefix(format!("{} @ {} req/s", args.label, rate));
    let limit = max_concurrency.map(|n| Arc::new(Semaphore::new(n)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(prepared.requests.len());
    for (req, at) in prepared.requests.iter().zip(times) {
        tokio::time::sleep_until((start + Duration::from_secs_f64(at)).into()).await;
        let (http, config, req, limit, progress) =
            (http.clone(), prepared.config.clone(), req.clone(), limit.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = match &limit {
                Some(s) => Some(s.clone().acquire_owned().await.expect("the semaphore is never closed")),
                None => None,
            };
            let t = client::send(&http, &config, &req.prompt, req.prompt_len, req.output_len).await;
            progress.inc(1);
            t
        }));
    }
    let mut timelines: Vec<RequestTimeline> = Vec::with_capacity(tasks.len());
    for task in tasks {
        timelines.push(task.await.unwrap_or_else(|e| RequestTimeline { error: format!("request task failed: {e}"), ..Default::default() }));
    }
    let duration = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    Ok(assemble(args, prepared, rate, max_concurrency, &timelines, duration))
}

/// The result file of a finished run.
pub fn assemble(
    args: &ServeArgs,
    prepared: &Prepared,
    rate: RequestRate,
    max_concurrency: Option<usize>,
    timelines: &[RequestTimeline],
    duration: f64,
) -> BenchResult {
    let slo = GoodputSlo::parse(&args.goodput).expect("validated in prepare");
    let tokenizer = prepared.tokenizer.clone();
    let m = compute_metrics(timelines, duration, &args.percentiles, &slo, &move |text| tokenizer.encode(text).len() as u64);
    BenchResult {
        date: crate::hardware::utc_timestamp(std::time::SystemTime::now()),
        label: args.label.clone(),
        backend: args.backend.name().into(),
        base_url: args.base_url.clone(),
        endpoint: prepared.config.url.trim_start_matches(args.base_url.trim_end_matches('/')).to_string(),
        model_id: prepared.model.clone(),
        hardware: args.hardware.clone().unwrap_or_else(default_hardware),
        hardware_class: args.hardware_class.clone().unwrap_or_else(default_hardware_class),
        dataset_name: args.workload.spec().map(|d| d.name()).unwrap_or("unknown").into(),
        num_prompts: timelines.len(),
        request_rate: rate,
        burstiness: args.burstiness,
        max_concurrency,
        ignore_eos: args.ignore_eos,
        seed: args.workload.seed,
        duration,
        completed: m.completed,
        failed: m.failed,
        total_input_tokens: m.total_input,
        total_output_tokens: m.total_output,
        request_throughput: m.request_throughput,
        request_goodput: m.request_goodput,
        goodput_slo_ms: slo.as_map(),
        output_throughput: m.output_throughput,
        total_token_throughput: m.total_token_throughput,
        output_token_source: m.output_token_source,
        latency_ms: m.latency_ms,
        input_lens: timelines.iter().map(|t| t.prompt_len).collect(),
        output_lens: m.output_lens,
        ttfts: timelines.iter().map(|t| if t.success { t.ttft } else { 0.0 }).collect(),
        itls: timelines.iter().map(|t| t.itl.clone()).collect(),
        errors: timelines.iter().map(|t| t.error.clone()).collect(),
    }
}

/// `llmserve bench serve`: runs, prints vLLM's table, writes the JSON and plots when asked.
pub fn run_serve(args: &ServeArgs, tokenizer: Arc<dyn PromptTokenizer>) -> Result<BenchResult, BenchError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| BenchError::Invalid(format!("starting the async runtime: {e}")))?;
    let result = rt.block_on(async {
        let prepared = prepare(args, tokenizer).await?;
        eprintln!(
            "{} requests ({} dataset), rate {}, burstiness {}, max concurrency {}",
            prepared.requests.len(),
            args.workload.spec()?.name(),
            args.request_rate,
            args.burstiness,
            args.max_concurrency.map_or("none".to_string(), |c| c.to_string())
        );
        run_once(args, &prepared, args.request_rate, args.max_concurrency).await
    })?;
    print!("{}", crate::table::result_table(&result, &args.percentiles));
    if let Some(path) = &args.result_json {
        write_json(path, &result)?;
    }
    if let Some(dir) = &args.plot {
        for p in crate::plot_run::plot_run(&result, dir)? {
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(result)
}

pub fn write_json<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<(), BenchError> {
    let text = serde_json::to_string_pretty(value).expect("results serialise");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::Write(dir.display().to_string(), e))?;
    }
    std::fs::write(path, text + "\n").map_err(|e| BenchError::Write(path.display().to_string(), e))
}

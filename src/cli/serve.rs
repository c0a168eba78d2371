//! `llmserve serve`: the OpenAI-compatible HTTP server on a model (the default model is fetched
//! when missing). Every flag is also an `LLMSERVE_*` environment variable. Logs are JSON lines on
//! stdout (`--log-format text` for humans; filter with `LLMSERVE_LOG`, e.g. `info,llmserve=debug`), and
//! also to `--log-file PATH` (JSON, rotated by size; `log_file.rs`, docs/logging.md).
//! SIGINT / SIGTERM drain: new requests get 503, in-flight ones finish within `--shutdown-timeout`.
//! Access: `--tenants FILE` (keys, limits, safety profiles per tenant; reloaded on SIGHUP) or
//! `--api-key KEY`; with neither the server runs open and says so loudly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use llmserve_engine::cuda::ResolvedDevice;
use llmserve_engine::{CpuBackendConfig, EngineConfig, EngineHandle};
use llmserve_models::chat_template::ChatTemplate;
use llmserve_models::model::LoadedModel;
use llmserve_scheduler::{PolicyKind, SchedulerConfig};
use llmserve_server::access::{AccessControl, AccessMode};
use llmserve_server::otel::{OtlpConfig, RequestTracer};
use llmserve_server::rate_limit::MonotonicClock;
use llmserve_server::{AppState, ServerConfig};

use super::log_file::{self, LogFileGuard, RotationPolicy};
use super::model_args::ModelArgs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to listen on.
    #[arg(long, env = "LLMSERVE_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 = any free port; the log says which).
    #[arg(long, env = "LLMSERVE_PORT", default_value_t = 8000)]
    pub port: u16,
    /// The model id clients send in `model` (default: the model file's name).
    #[arg(long, env = "LLMSERVE_SERVED_MODEL_NAME")]
    pub served_model_name: Option<String>,
    /// Most sequences in one engine step.
    #[arg(long, env = "LLMSERVE_MAX_NUM_SEQS", default_value_t = 64)]
    pub max_num_seqs: usize,
    /// Token budget of one engine step (prefill chunks + decodes).
    #[arg(long, env = "LLMSERVE_MAX_NUM_BATCHED_TOKENS", default_value_t = 512)]
    pub max_num_batched_tokens: usize,
    /// Context limit (prompt + max_tokens); default and cap: the model's.
    #[arg(long, env = "LLMSERVE_MAX_MODEL_LEN")]
    pub max_model_len: Option<usize>,
    /// KV-cache size in tokens (CPU backend).
    #[arg(long, env = "LLMSERVE_KV_CACHE_TOKENS", default_value_t = llmserve_engine::handle::DEFAULT_CPU_KV_CACHE_TOKENS)]
    pub kv_cache_tokens: usize,
    /// Fraction of GPU memory the CUDA backend may use.
    #[arg(long, env = "LLMSERVE_GPU_MEMORY_UTILIZATION", default_value_t = 0.9)]
    pub gpu_memory_utilization: f64,
    /// Scheduling policy: fcfs, priority, fair-share, shortest-prompt-first.
    #[arg(long, env = "LLMSERVE_POLICY", default_value = "fcfs")]
    pub policy: PolicyKind,
    /// Turn off prefix caching (KV reuse across requests with a common prompt prefix).
    #[arg(long, env = "LLMSERVE_NO_PREFIX_CACHING")]
    pub no_prefix_caching: bool,
    /// Most samples (requests × n) admitted at once; beyond it requests get 503 + Retry-After.
    #[arg(long, env = "LLMSERVE_MAX_IN_FLIGHT", default_value_t = 512)]
    pub max_in_flight: usize,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, env = "LLMSERVE_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds in-flight requests may take to finish after SIGINT / SIGTERM.
    #[arg(long, env = "LLMSERVE_SHUTDOWN_TIMEOUT", default_value_t = 30.0)]
    pub shutdown_timeout: f64,
    /// Log format.
    #[arg(long, env = "LLMSERVE_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Also write the JSON log lines to this file (whatever --log-format says for stdout), rotated by
    /// size: PATH → PATH.1 → PATH.2 … (see docs/logging.md).
    #[arg(long, env = "LLMSERVE_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Rotate the log file before a line would grow it past this many bytes (at least 4096).
    #[arg(long, env = "LLMSERVE_LOG_FILE_MAX_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub log_file_max_bytes: u64,
    /// Rotated log files kept (PATH.1 … PATH.N; the oldest is deleted).
    #[arg(long, env = "LLMSERVE_LOG_FILE_KEEP", default_value_t = 5)]
    pub log_file_keep: u32,
    /// Tenants file (TOML): API-key hashes, rate limits, priorities, models and safety profiles per
    /// tenant. Reloaded on SIGHUP (a bad file keeps the old configuration).
    #[arg(long, env = "LLMSERVE_TENANTS", conflicts_with = "api_key")]
    pub tenants: Option<PathBuf>,
    /// One API key every request must send (`Authorization: Bearer KEY`); no limits.
    #[arg(long, env = "LLMSERVE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Safety profile without a tenants file: default (input limits, injection flagged), strict
    /// (injection blocked, PII redacted in output) or off.
    #[arg(long, env = "LLMSERVE_SAFETY_PROFILE", default_value = "default")]
    pub safety_profile: String,
    /// OpenTelemetry: export a trace of every generation request over OTLP/HTTP (protobuf) to this
    /// collector base URL, e.g. http://collector:4318 (`/v1/traces` is appended). Off when unset.
    #[arg(long, env = "LLMSERVE_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported traces.
    #[arg(long, env = "LLMSERVE_OTLP_SERVICE_NAME", default_value = "llmserve", requires = "otlp_endpoint")]
    pub otlp_service_name: String,
    /// Share of new traces recorded, 0..=1 (parent-based: a caller's sampled `traceparent` is
    /// always recorded).
    #[arg(long, env = "LLMSERVE_OTLP_SAMPLE_RATIO", default_value_t = 1.0, requires = "otlp_endpoint")]
    pub otlp_sample_ratio: f64,
}

/// The tracing configuration the `--otlp-*` flags ask for (`None` = tracing off).
fn otlp_config(args: &ServeArgs) -> Result<Option<OtlpConfig>> {
    match args.otlp_endpoint.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(endpoint) => Ok(Some(OtlpConfig::new(endpoint, &args.otlp_service_name, args.otlp_sample_ratio)?)),
    }
}

/// The access configuration the flags ask for.
fn access_control(args: &ServeArgs) -> Result<AccessControl> {
    let access = match (&args.tenants, &args.api_key) {
        (Some(path), _) => {
            if args.safety_profile != "default" {
                bail!("--safety-profile applies without a tenants file; with --tenants each tenant names its `safety_profile`");
            }
            AccessControl::from_file(path, Arc::new(MonotonicClock::new()))?
        }
        (None, Some(key)) if key.trim().is_empty() => bail!("--api-key is empty"),
        (None, Some(key)) => AccessControl::single_key(key, &args.safety_profile)?,
        (None, None) => AccessControl::open(&args.safety_profile)?,
    };
    Ok(access)
}

/// Logging for `serve`: stdout in `--log-format`, plus JSON lines into `--log-file` (rotated, written by a
/// background thread) when asked. Keep the returned guard alive until shutdown: dropping it flushes the file.
fn init_logging(args: &ServeArgs) -> Result<Option<LogFileGuard>> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{fmt, EnvFilter, Layer};
    if args.log_file_max_bytes < log_file::MIN_MAX_BYTES {
        bail!("--log-file-max-bytes must be at least {} bytes, got {}", log_file::MIN_MAX_BYTES, args.log_file_max_bytes);
    }
    let (file_layer, guard) = match &args.log_file {
        Some(path) => {
            let policy = RotationPolicy { max_bytes: args.log_file_max_bytes, keep: args.log_file_keep };
            let (writer, guard) = log_file::spawn(path, policy).with_context(|| format!("cannot open the log file {}", path.display()))?;
            let layer = fmt::layer().json().flatten_event(true).with_current_span(false).with_ansi(false).with_writer(writer);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let filter = EnvFilter::try_from_env("LLMSERVE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let stdout_layer = match args.log_format {
        LogFormat::Json => fmt::layer().json().flatten_event(true).with_current_span(false).boxed(),
        LogFormat::Text => fmt::layer().boxed(),
    };
    let _ = tracing_subscriber::registry().with(filter).with(stdout_layer).with(file_layer).try_init();
    Ok(guard)
}

fn engine_config(args: &ServeArgs) -> EngineConfig {
    let defaults = EngineConfig::default();
    EngineConfig {
        precision: args.model.precision(),
        cpu: CpuBackendConfig { threads: args.model.threads, kv_cache_tokens: args.kv_cache_tokens, ..defaults.cpu },
        scheduler: SchedulerConfig {
            max_num_seqs: args.max_num_seqs,
            max_num_batched_tokens: args.max_num_batched_tokens,
            max_model_len: args.max_model_len.unwrap_or(usize::MAX),
            enable_prefix_caching: !args.no_prefix_caching,
            policy: args.policy,
            ..defaults.scheduler
        },
        ..defaults
    }
}

/// The CUDA engine for `model` (also used by `bench offline`).
#[cfg(feature = "cuda")]
pub(crate) fn cuda_engine(model: &LoadedModel, config: EngineConfig, gpu_memory_utilization: f64, max_model_len: Option<usize>) -> Result<EngineHandle> {
    use llmserve_engine::cuda::{CudaModelRunner, CudaRunnerConfig};
    let rc = CudaRunnerConfig {
        block_size: config.scheduler.block_size,
        max_num_seqs: config.scheduler.max_num_seqs,
        max_num_batched_tokens: config.scheduler.max_num_batched_tokens,
        gpu_memory_utilization,
        max_model_len,
        ..Default::default()
    };
    let runner = CudaModelRunner::new(&model.tensors, &model.config, &rc).context("starting the CUDA backend")?;
    let tokenizer = model.tokenizer.clone().map(Arc::new);
    Ok(EngineHandle::spawn(config.scheduler.clone(), Box::new(runner), tokenizer, (&config).into())?)
}

#[cfg(not(feature = "cuda"))]
pub(crate) fn cuda_engine(_model: &LoadedModel, _config: EngineConfig, _gpu_memory_utilization: f64, _max_model_len: Option<usize>) -> Result<EngineHandle> {
    bail!("--device cuda: this binary was built without the `cuda` feature (cargo build --release --features cuda)")
}

pub fn run(args: ServeArgs) -> Result<()> {
    // Dropped last (after the runtime and the engine): the log file gets every line, shutdown's included.
    let _log_file = init_logging(&args)?;
    if !(args.shutdown_timeout.is_finite() && args.shutdown_timeout >= 0.0) {
        bail!("--shutdown-timeout must be a non-negative number of seconds, got {}", args.shutdown_timeout);
    }
    let access = access_control(&args)?;
    let otlp = otlp_config(&args)?;
    let model = args.model.load()?;
    let tokenizer = model
        .tokenizer
        .clone()
        .map(Arc::new)
        .context("the server needs the model's tokenizer; pass --tokenizer DIR (a directory with tokenizer.json)")?;
    let chat_template = match model.chat_template() {
        Some(source) => Some(ChatTemplate::new(source, tokenizer.bos_token().map(String::from), tokenizer.eos_token().map(String::from))?),
        None => {
            tracing::warn!("the model has no chat template: /v1/chat/completions will refuse requests");
            None
        }
    };
    let config = engine_config(&args);
    let device = args.model.resolve_device()?;
    let engine = match device {
        ResolvedDevice::Cpu => EngineHandle::cpu(&model, config)?,
        ResolvedDevice::Cuda => cuda_engine(&model, config, args.gpu_memory_utilization, args.max_model_len)?,
    };
    let model_id = args.served_model_name.clone().unwrap_or_else(|| model.id.clone());
    let mut server_config = ServerConfig::new(&model_id);
    server_config.max_in_flight = args.max_in_flight;
    server_config.max_body_bytes = args.max_body_bytes;
    server_config.shutdown_timeout = Duration::from_secs_f64(args.shutdown_timeout);
    server_config.system_fingerprint = format!("fp_llmserve_{}_{}_{device:?}", llmserve_server::version(), env!("LLMSERVE_GIT_COMMIT")).to_lowercase();
    let limits = engine.limits();
    let tracer = match otlp {
        Some(config) => {
            tracing::info!(url = %config.traces_url, service_name = %config.service_name, sample_ratio = config.sample_ratio, "OpenTelemetry tracing on");
            Some(RequestTracer::start(config)?)
        }
        None => None,
    };
    let state = Arc::new(AppState::new(server_config, engine, tokenizer, chat_template).with_access(access).with_tracer(tracer));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("llmserve-http").build()?;
    runtime.block_on(async move {
        if matches!(state.access.mode(), AccessMode::TenantsFile(_)) {
            // Installed before the port opens, so a SIGHUP never meets the default action (exit).
            match llmserve_server::watch_sighup(Arc::clone(&state)) {
                Ok(reloads) => {
                    tokio::spawn(reloads);
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for SIGHUP: the tenants file will not be reloaded"),
            }
        }
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr: SocketAddr = listener.local_addr()?;
        tracing::info!(
            address = %format!("http://{addr}"),
            model = %model_id,
            device = ?device,
            max_model_len = limits.max_model_len,
            kv_cache_tokens = limits.cache_capacity_tokens(),
            "llmserve listening"
        );
        let access = state.access.describe();
        match state.access.mode() {
            AccessMode::Open => {
                tracing::warn!(access = %access, "NO AUTHENTICATION: anyone who can reach this port can use the model; pass --tenants FILE or --api-key KEY")
            }
            _ => tracing::info!(access = %access, "access control"),
        }

        llmserve_server::serve(listener, state, llmserve_server::shutdown_signal()).await?;
        Ok(())
    })
}

//! [`EngineHandle`]: the engine's facade for the server and other callers.
//!
//! Modelled on vLLM's `AsyncLLM` (add_request / abort / output streams over an engine-core process)
//! and TGI's router `Validation` (every check happens before queuing, with an error naming the
//! limit). The handle is `Clone + Send + Sync`; it talks to the engine thread through a command
//! channel and never blocks on a step:
//!
//! - [`EngineHandle::submit`] validates an [`EngineRequest`] synchronously (sampling parameters,
//!   the backend's logprobs support, empty prompt, token ids, context length, KV-cache capacity,
//!   `n`), then queues it and returns its [`RequestStream`]. `n > 1` becomes `n` scheduler
//!   requests with the same prompt (they share the prompt's FULL blocks through prefix caching)
//!   and, for a seeded request, seeds `seed + index`.
//! - [`EngineHandle::abort`], or dropping the stream, ends the request; its blocks are freed at the
//!   engine's next step.
//! - [`EngineHandle::stats`], [`EngineHandle::is_alive`], [`EngineHandle::heartbeat`] for metrics and
//!   health; [`EngineHandle::take_step_traces`] for cost-model fitting.
//! - [`EngineHandle::shutdown`] (also run when the last handle is dropped) aborts what is in flight
//!   and joins the thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use llmserve_models::llama::MatmulPrecision;
use llmserve_models::model::LoadedModel;
use llmserve_models::tokenizer::Tokenizer;
use llmserve_scheduler::{RequestId, SamplingParams, Scheduler, SchedulerConfig};

use crate::cpu_backend::CpuBackendConfig;
use crate::cpu_runner::CpuModelRunner;
use crate::engine_core::{lock, EngineCommand, EngineCore, EngineCoreParts, EngineShared, EngineStats, PendingRequest, StepTrace};
use crate::model_runner::ModelRunner;
use crate::stream::RequestStream;
use crate::EngineError;

/// KV-cache tokens of the CPU engine by default: 16384 tokens of the default model
/// (SmolLM2-135M: 30 layers × 3 KV heads × 64 dims, f32 K and V) take about 740 MB.
pub const DEFAULT_CPU_KV_CACHE_TOKENS: usize = 16384;

/// Everything needed to build an engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Batching and policy. `block_size` also sets the KV cache's block size; `num_blocks` is
    /// replaced by what the runner's KV cache holds; `max_model_len` is capped at the model's
    /// context length.
    pub scheduler: SchedulerConfig,
    /// CPU backend: threads and KV-cache size (`kv_cache_tokens`). Its `block_size` is replaced by
    /// `scheduler.block_size`.
    pub cpu: CpuBackendConfig,
    /// Matmul activation precision of the CPU forward.
    pub precision: MatmulPrecision,
    /// Largest `n` (samples per request) accepted.
    pub max_samples_per_request: usize,
    /// Keep the last this many [`StepTrace`]s (0 = don't record).
    pub step_trace_capacity: usize,
    /// Leave special tokens (`<|im_end|>` …) out of the streamed text.
    pub skip_special_tokens: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            scheduler: SchedulerConfig::default(),
            cpu: CpuBackendConfig { kv_cache_tokens: DEFAULT_CPU_KV_CACHE_TOKENS, ..CpuBackendConfig::default() },
            precision: MatmulPrecision::BALANCED,
            max_samples_per_request: 16,
            step_trace_capacity: 0,
            skip_special_tokens: true,
        }
    }
}

/// The limits `submit` checks against (fixed when the engine starts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineLimits {
    pub vocab_size: usize,
    /// Prompt + max_tokens must not exceed this.
    pub max_model_len: usize,
    pub block_size: usize,
    pub num_blocks: usize,
    pub max_samples_per_request: usize,
    /// Whether text (and so stop strings) is available.
    pub has_tokenizer: bool,
    /// Whether the backend computes `logprobs` / `prompt_logprobs` (requests asking for them are
    /// refused otherwise).
    pub supports_logprobs: bool,
}

impl EngineLimits {
    /// Tokens the whole KV cache holds.
    pub fn cache_capacity_tokens(&self) -> usize {
        self.num_blocks * self.block_size
    }
}

/// A request as the caller submits it (token ids: tokenization and chat templates happen above).
#[derive(Clone, Debug)]
pub struct EngineRequest {
    pub prompt_token_ids: Vec<u32>,
    pub sampling_params: SamplingParams,
    /// Samples to generate from the prompt (OpenAI `n`).
    pub n: usize,
    /// Lower is served first (vLLM convention).
    pub priority: i32,
    /// Billing / fair-share tenant; `None` = anonymous.
    pub tenant: Option<String>,
    /// Requests with different salts never share prefix-cache blocks.
    pub cache_salt: Option<String>,
}

impl EngineRequest {
    /// One sample of `prompt_token_ids` with `sampling_params`, priority 0, no tenant, no salt.
    pub fn new(prompt_token_ids: Vec<u32>, sampling_params: SamplingParams) -> EngineRequest {
        EngineRequest { prompt_token_ids, sampling_params, n: 1, priority: 0, tenant: None, cache_salt: None }
    }

    /// Builder: `n` samples.
    pub fn with_n(mut self, n: usize) -> EngineRequest {
        self.n = n;
        self
    }

    /// Builder: priority.
    pub fn with_priority(mut self, priority: i32) -> EngineRequest {
        self.priority = priority;
        self
    }

    /// Builder: tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> EngineRequest {
        self.tenant = Some(tenant.into());
        self
    }

    /// Builder: prefix-cache salt.
    pub fn with_cache_salt(mut self, salt: impl Into<String>) -> EngineRequest {
        self.cache_salt = Some(salt.into());
        self
    }
}

/// Shared by every clone of a handle; shuts the engine down when the last clone goes.
struct HandleInner {
    commands: Sender<EngineCommand>,
    shared: Arc<EngineShared>,
    limits: EngineLimits,
    /// Next free request id (a group of n takes n consecutive ids).
    next_id: AtomicU64,
    thread: Mutex<Option<JoinHandle<()>>>,
    tokenizer: Option<Arc<Tokenizer>>,
}

impl HandleInner {
    fn shutdown(&self) {
        let _ = self.commands.send(EngineCommand::Shutdown);
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            // A panic on the engine thread was already reported by the panic hook.
            let _ = thread.join();
        }
    }
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Cloneable, thread-safe access to a running engine. See the module documentation.
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").field("limits", &self.inner.limits).field("alive", &self.is_alive()).finish()
    }
}

/// Options of [`EngineHandle::spawn`] beyond the scheduler config and the runner.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub max_samples_per_request: usize,
    pub step_trace_capacity: usize,
    pub skip_special_tokens: bool,
}

impl From<&EngineConfig> for EngineOptions {
    fn from(c: &EngineConfig) -> Self {
        EngineOptions {
            max_samples_per_request: c.max_samples_per_request,
            step_trace_capacity: c.step_trace_capacity,
            skip_special_tokens: c.skip_special_tokens,
        }
    }
}

impl EngineHandle {
    /// Builds the CPU engine for `model` (weights resolved at `config.precision`, KV cache of
    /// `config.cpu.kv_cache_tokens`) and starts its thread.
    pub fn cpu(model: &LoadedModel, config: EngineConfig) -> Result<EngineHandle, EngineError> {
        let llama = model.build_llama(config.precision)?;
        let cpu = CpuBackendConfig { block_size: config.scheduler.block_size, ..config.cpu.clone() };
        let runner = CpuModelRunner::new(llama, &cpu)?;
        let tokenizer = model.tokenizer.clone().map(Arc::new);
        EngineHandle::spawn(config.scheduler.clone(), Box::new(runner), tokenizer, EngineOptions::from(&config))
    }

    /// Starts an engine thread over any runner. The scheduler's `block_size` and `num_blocks` are
    /// taken from the runner's KV cache and `max_model_len` is capped at the model's.
    pub fn spawn(
        mut scheduler_config: SchedulerConfig,
        runner: Box<dyn ModelRunner>,
        tokenizer: Option<Arc<Tokenizer>>,
        options: EngineOptions,
    ) -> Result<EngineHandle, EngineError> {
        scheduler_config.block_size = runner.block_size();
        scheduler_config.num_blocks = runner.num_blocks();
        scheduler_config.max_model_len = scheduler_config.max_model_len.min(runner.max_model_len());
        let scheduler = Scheduler::new(scheduler_config.clone())?;
        let limits = EngineLimits {
            vocab_size: runner.vocab_size(),
            max_model_len: scheduler_config.max_model_len,
            block_size: scheduler_config.block_size,
            num_blocks: scheduler_config.num_blocks,
            max_samples_per_request: options.max_samples_per_request.max(1),
            has_tokenizer: tokenizer.is_some(),
            supports_logprobs: runner.supports_logprobs(),
        };
        let eos_token_ids: Arc<[u32]> = tokenizer.as_ref().map_or_else(|| Arc::from(Vec::new()), |t| Arc::from(t.eos_ids()));
        let (commands, receiver) = mpsc::channel();
        let shared = Arc::new(EngineShared::new(options.step_trace_capacity));
        let core = EngineCore::new(EngineCoreParts {
            scheduler,
            runner,
            tokenizer: tokenizer.clone(),
            skip_special_tokens: options.skip_special_tokens,
            eos_token_ids,
            commands: receiver,
            shared: Arc::clone(&shared),
        });
        let thread = std::thread::Builder::new()
            .name("llmserve-engine".into())
            .spawn(move || core.run())
            .map_err(EngineError::Spawn)?;
        Ok(EngineHandle {
            inner: Arc::new(HandleInner {
                commands,
                shared,
                limits,
                next_id: AtomicU64::new(1),
                thread: Mutex::new(Some(thread)),
                tokenizer,
            }),
        })
    }

    /// The limits requests are checked against.
    pub fn limits(&self) -> EngineLimits {
        self.inner.limits
    }

    /// The model's tokenizer, if it has one (callers encode prompts with it).
    pub fn tokenizer(&self) -> Option<&Arc<Tokenizer>> {
        self.inner.tokenizer.as_ref()
    }

    /// Checks `request` against the engine's limits; what [`EngineHandle::submit`] runs first.
    pub fn validate(&self, request: &EngineRequest) -> Result<(), EngineError> {
        let limits = &self.inner.limits;
        let prompt = &request.prompt_token_ids;
        if request.n == 0 || request.n > limits.max_samples_per_request {
            return Err(EngineError::InvalidSampleCount { n: request.n, max: limits.max_samples_per_request });
        }
        if prompt.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        request.sampling_params.validate(limits.vocab_size)?;
        let params = &request.sampling_params;
        if (params.logprobs.is_some() || params.prompt_logprobs.is_some()) && !limits.supports_logprobs {
            return Err(EngineError::LogprobsUnsupported);
        }
        if let Some((position, &id)) = prompt.iter().enumerate().find(|(_, &id)| id as usize >= limits.vocab_size) {
            return Err(EngineError::TokenOutOfRange { id, position, vocab_size: limits.vocab_size });
        }
        if !request.sampling_params.stop.is_empty() && !limits.has_tokenizer {
            return Err(EngineError::StopStringsNeedTokenizer);
        }
        let max_tokens = request.sampling_params.max_tokens as usize;
        if prompt.len() + max_tokens > limits.max_model_len {
            return Err(EngineError::ContextLength { prompt_tokens: prompt.len(), max_tokens, limit: limits.max_model_len });
        }
        // The last sampled token never needs a KV slot (the scheduler's own rule).
        let needed = (prompt.len() + max_tokens).saturating_sub(1).max(prompt.len());
        if needed > limits.cache_capacity_tokens() {
            return Err(EngineError::CacheFull {
                needed,
                needed_blocks: needed.div_ceil(limits.block_size),
                block_size: limits.block_size,
                available_blocks: limits.num_blocks,
            });
        }
        Ok(())
    }

    /// Validates and queues a request; its events arrive on the returned stream.
    pub fn submit(&self, request: EngineRequest) -> Result<RequestStream, EngineError> {
        self.validate(&request)?;
        if !self.is_alive() {
            return Err(EngineError::EngineStopped);
        }
        let n = request.n;
        let group_id = RequestId(self.inner.next_id.fetch_add(n as u64, Ordering::Relaxed));
        let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
        let pending = PendingRequest {
            group_id,
            prompt_token_ids: request.prompt_token_ids,
            sampling_params: request.sampling_params,
            n,
            priority: request.priority,
            tenant: request.tenant.map(Arc::from),
            cache_salt: request.cache_salt,
            submitted_at: Instant::now(),
            events,
        };
        self.inner.commands.send(EngineCommand::Add(Box::new(pending))).map_err(|_| EngineError::EngineStopped)?;
        Ok(RequestStream::new(group_id, n, receiver, self.inner.commands.clone()))
    }

    /// Ends the request `id` (a stream's [`RequestStream::id`]) with `FinishReason::Abort`; its
    /// blocks are freed at the next step. Unknown or finished ids are ignored.
    pub fn abort(&self, id: RequestId) -> Result<(), EngineError> {
        self.inner.commands.send(EngineCommand::Abort(id)).map_err(|_| EngineError::EngineStopped)
    }

    /// The latest stats snapshot (refreshed after every engine loop iteration).
    pub fn stats(&self) -> EngineStats {
        lock(&self.inner.shared.stats).clone()
    }

    /// Whether the engine thread is running.
    pub fn is_alive(&self) -> bool {
        self.inner.shared.alive.load(Ordering::SeqCst)
    }

    /// Engine loop iterations so far: advances while there is work, stands still while idle.
    /// Together with [`EngineHandle::time_since_last_step`] and the running count it tells a stuck
    /// engine from an idle one.
    pub fn heartbeat(&self) -> u64 {
        self.inner.shared.heartbeat.load(Ordering::Relaxed)
    }

    /// Time since the last executed step (since start if none ran yet).
    pub fn time_since_last_step(&self) -> Duration {
        let shared = &self.inner.shared;
        let last = Duration::from_millis(shared.last_step_ms.load(Ordering::Relaxed));
        shared.epoch.elapsed().saturating_sub(last)
    }

    /// Removes and returns the recorded step traces (oldest first; empty unless
    /// `step_trace_capacity > 0`).
    pub fn take_step_traces(&self) -> Vec<StepTrace> {
        lock(&self.inner.shared.traces).drain(..).collect()
    }

    /// Aborts everything in flight (streams get `Finished { reason: Abort }`) and joins the engine
    /// thread. Later submits fail with [`EngineError::EngineStopped`]. Idempotent; also runs when
    /// the last clone of the handle is dropped.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send_unpin<T: Send + Unpin>() {}

    #[test]
    fn handle_and_stream_cross_threads() {
        assert_send_sync::<EngineHandle>();
        assert_send_unpin::<RequestStream>();
    }

    #[test]
    fn default_config_is_valid_and_sizes_the_cpu_cache() {
        let c = EngineConfig::default();
        c.scheduler.validate().unwrap();
        assert_eq!(c.cpu.kv_cache_tokens, DEFAULT_CPU_KV_CACHE_TOKENS);
        assert!(c.max_samples_per_request >= 1 && c.skip_special_tokens);
    }
}

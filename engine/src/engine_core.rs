//! [`EngineCore`]: the step loop that owns the scheduler and the model runner, on its own thread.
//!
//! Models vLLM v1 `v1/engine/core.py` (`EngineCore.step`: schedule → execute_model →
//! update_from_output) with the output processing of `v1/engine/output_processor.py`
//! (incremental detokenization, stop strings) folded in, and nano-vllm's `LLMEngine.step`. One loop
//! iteration:
//!
//! 1. drain the command channel (`Add`, `Abort`, `Shutdown`); when there is nothing to run, BLOCK on
//!    it (no busy loop: an idle engine costs nothing);
//! 2. `Scheduler::schedule()`;
//! 3. `ModelRunner::execute()` — skipped when the step schedules nothing and drops nothing;
//! 4. `Scheduler::update_from_output()`;
//! 5. per request output: incremental detokenization (special tokens skipped) and stop strings
//!    (the text before a stop string is emitted, the request is ended with
//!    `Scheduler::finish_requests(.., Stop)`), then events to the request's stream.
//!
//! Logprobs: a sample asking `prompt_logprobs` gathers the runner's per-step prompt entries (several
//! steps with chunked prefill; repeats after a preemption ignored) and gets one `PromptLogprobs`
//! event once the prompt is complete, before its first `Tokens`. A sample asking `logprobs` gets, in
//! each `Tokens` event, the runner's entries for the tokens the scheduler accepted. Queue time: the
//! first step that schedules a sample stamps `submitted → scheduled` for its `Usage`.
//!
//! Failure handling: a runner error (or panic) fails the requests scheduled in that step — each gets
//! an error event and `FinishReason::Error` — and the loop goes on serving the others; the runner
//! drops their state at the next step through `finished_request_ids`. A stream whose receiver is
//! gone gets its request aborted. Liveness (alive flag, loop heartbeat, time of the last step) and a
//! stats snapshot are published to [`EngineShared`] after every iteration, and each executed step
//! can be recorded as a [`StepTrace`] in a bounded buffer (the simulator's cost-model input).
//!
//! Cost per iteration beyond the runner: O(commands + scheduled requests + new tokens · stop
//! strings).

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use llmserve_models::detokenizer::IncrementalDetokenizer;
use llmserve_models::tokenizer::Tokenizer;
use llmserve_scheduler::{
    FinishReason, ModelRunnerOutput, Request, RequestId, RequestOutput, SamplingParams, Scheduler, SchedulerOutput,
    StopCheck, StopStringMatcher, TokenLogprob,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::logprobs::PromptLogprobsAccumulator;
use crate::model_runner::ModelRunner;
use crate::stream::{StreamEvent, Usage};
use crate::EngineError;

/// How long the loop waits for a command when requests exist but nothing could be scheduled.
const IDLE_POLL: Duration = Duration::from_millis(5);

/// A request group as submitted through the handle: `n` samples of one prompt.
pub(crate) struct PendingRequest {
    /// Id of the group = id of sample 0; sample `i` is `RequestId(group_id.0 + i)`.
    pub group_id: RequestId,
    pub prompt_token_ids: Vec<u32>,
    pub sampling_params: SamplingParams,
    pub n: usize,
    pub priority: i32,
    pub tenant: Option<Arc<str>>,
    pub cache_salt: Option<String>,
    /// When the caller submitted it (the scheduler's arrival time, relative to the engine epoch).
    pub submitted_at: Instant,
    /// The group's event stream.
    pub events: UnboundedSender<StreamEvent>,
}

/// What the handle asks of the engine thread.
pub(crate) enum EngineCommand {
    Add(Box<PendingRequest>),
    /// Ends every sample of a group (client gone or cancelled).
    Abort(RequestId),
    /// Aborts everything in flight and ends the thread.
    Shutdown,
}

/// Counters and gauges of a running engine (a snapshot, refreshed after every loop iteration).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Requests (samples) holding KV blocks.
    pub num_running: usize,
    /// Requests (samples) queued or preempted.
    pub num_waiting: usize,
    /// Fraction of KV-cache blocks in use.
    pub kv_cache_usage: f64,
    /// Blocks not held by any request (cached-but-free prefix blocks count as free).
    pub num_free_blocks: usize,
    /// Blocks in the pool.
    pub num_blocks: usize,
    /// Times a running request lost its blocks.
    pub num_preemptions: u64,
    /// Prompt tokens looked up in the prefix cache at admission.
    pub prefix_cache_queried_tokens: u64,
    /// Of those, tokens whose KV was reused.
    pub prefix_cache_hit_tokens: u64,
    /// Steps that ran the model.
    pub num_steps: u64,
    /// Steps whose execution failed (their requests ended with `FinishReason::Error`).
    pub num_step_errors: u64,
    /// Tokens generated and accepted (all requests).
    pub num_generated_tokens: u64,
    /// Requests (samples) that ended, for any reason.
    pub num_finished_requests: u64,
}

/// One executed step, for fitting a step-time cost model (the simulator's) on real runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepTrace {
    /// The scheduler's step counter.
    pub step: u64,
    /// Tokens computed in the forward (rows of every matmul).
    pub num_scheduled_tokens: usize,
    /// Sequences in the batch.
    pub num_seqs: usize,
    /// Tokens of multi-token chunks and of newly admitted requests (prefill work).
    pub num_prefill_tokens: usize,
    /// Sequences computing exactly one token of an already running request (decodes).
    pub num_decode_seqs: usize,
    /// Σ over the batch of the sequence's context after the step (attention work grows with it).
    pub total_context_tokens: usize,
    /// Tokens sampled (rows of the LM head).
    pub num_sampled: usize,
    /// Wall time of `ModelRunner::execute` (forward + sampling + input preparation), seconds.
    pub execute_seconds: f64,
    /// Wall time of the whole step: schedule, execute, update, output processing, seconds.
    pub step_seconds: f64,
}

/// State shared between the engine thread and its handles.
pub(crate) struct EngineShared {
    /// Time zero of arrival times and `last_step_ms`.
    pub epoch: Instant,
    /// Cleared when the engine thread exits, however it exits (also by panic).
    pub alive: AtomicBool,
    /// Loop iterations so far (advances while the engine works; stands still while idle).
    pub heartbeat: AtomicU64,
    /// Milliseconds after `epoch` at which the last step ran.
    pub last_step_ms: AtomicU64,
    pub stats: Mutex<EngineStats>,
    /// Most recent step traces, at most `trace_capacity` (0 = not recorded).
    pub traces: Mutex<VecDeque<StepTrace>>,
    pub trace_capacity: usize,
}

impl EngineShared {
    pub(crate) fn new(trace_capacity: usize) -> EngineShared {
        EngineShared {
            epoch: Instant::now(),
            alive: AtomicBool::new(true),
            heartbeat: AtomicU64::new(0),
            last_step_ms: AtomicU64::new(0),
            stats: Mutex::new(EngineStats::default()),
            traces: Mutex::new(VecDeque::new()),
            trace_capacity,
        }
    }
}

/// Locks a mutex whose data stays valid even if a holder panicked (plain snapshots).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Clears the alive flag when the engine thread ends, by return or by unwinding.
struct AliveGuard(Arc<EngineShared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::SeqCst);
    }
}

/// Text-side state of one sample (one scheduler request).
struct SampleState {
    group_id: RequestId,
    /// Index of the sample in its group (events carry it).
    index: usize,
    /// Token ids → text deltas; `None` when the model has no tokenizer.
    detokenizer: Option<IncrementalDetokenizer>,
    /// Holds back text that may begin a stop string; finds the first stop string.
    stops: StopStringMatcher,
    events: UnboundedSender<StreamEvent>,
    /// When the caller submitted the request (start of the queue time).
    submitted_at: Instant,
    /// Submission to the first step that scheduled the sample; `None` until then.
    queue_time: Option<Duration>,
    /// Whether `Tokens` events carry logprobs (the request asked `logprobs`).
    wants_token_logprobs: bool,
    /// The prompt's logprobs as they arrive (the request asked `prompt_logprobs`).
    prompt_logprobs: Option<PromptLogprobsAccumulator>,
}

impl SampleState {
    /// Sends the `PromptLogprobs` event if the prompt's logprobs are complete and not sent yet.
    fn send_complete_prompt_logprobs(&mut self) {
        if let Some(logprobs) = self.prompt_logprobs.as_mut().and_then(PromptLogprobsAccumulator::take_complete) {
            let _ = self.events.send(StreamEvent::PromptLogprobs { index: self.index, logprobs });
        }
    }
}

/// The engine: scheduler + model runner + output processing, driven by [`EngineCore::run`] on the
/// engine thread (spawned by [`crate::EngineHandle`]).
pub struct EngineCore {
    scheduler: Scheduler,
    runner: Box<dyn ModelRunner>,
    /// Detokenizes outputs; `None` = token ids only (stop strings are refused at submit).
    tokenizer: Option<Arc<Tokenizer>>,
    /// Hide control tokens such as `<|im_end|>` from the text.
    skip_special_tokens: bool,
    /// The model's end-of-generation ids, given to every request.
    eos_token_ids: Arc<[u32]>,
    commands: Receiver<EngineCommand>,
    shared: Arc<EngineShared>,
    /// Per live sample.
    samples: HashMap<RequestId, SampleState>,
    /// Live sample ids of each group (abort by group).
    groups: HashMap<RequestId, Vec<RequestId>>,
    /// Counters kept here (the scheduler's are merged in when publishing).
    num_steps: u64,
    num_step_errors: u64,
    num_generated_tokens: u64,
    num_finished_requests: u64,
}

/// What [`EngineCore`] needs besides the scheduler and runner.
pub(crate) struct EngineCoreParts {
    pub scheduler: Scheduler,
    pub runner: Box<dyn ModelRunner>,
    pub tokenizer: Option<Arc<Tokenizer>>,
    pub skip_special_tokens: bool,
    pub eos_token_ids: Arc<[u32]>,
    pub commands: Receiver<EngineCommand>,
    pub shared: Arc<EngineShared>,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl EngineCore {
    pub(crate) fn new(parts: EngineCoreParts) -> EngineCore {
        EngineCore {
            scheduler: parts.scheduler,
            runner: parts.runner,
            tokenizer: parts.tokenizer,
            skip_special_tokens: parts.skip_special_tokens,
            eos_token_ids: parts.eos_token_ids,
            commands: parts.commands,
            shared: parts.shared,
            samples: HashMap::new(),
            groups: HashMap::new(),
            num_steps: 0,
            num_step_errors: 0,
            num_generated_tokens: 0,
            num_finished_requests: 0,
        }
    }

    /// Whether a step would do anything (run tokens or tell the runner to drop state).
    fn has_work(&self) -> bool {
        self.scheduler.has_unfinished_requests() || self.scheduler.has_pending_finishes()
    }

    /// The engine thread's body: runs until `Shutdown` or until every handle and stream is gone.
    pub fn run(mut self) {
        let _alive = AliveGuard(Arc::clone(&self.shared));
        self.publish();
        'outer: loop {
            if !self.has_work() {
                self.publish();
                match self.commands.recv() {
                    Ok(cmd) => {
                        if !self.handle_command(cmd) {
                            break 'outer;
                        }
                    }
                    Err(_) => break 'outer,
                }
            }
            loop {
                match self.commands.try_recv() {
                    Ok(cmd) => {
                        if !self.handle_command(cmd) {
                            break 'outer;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    // Every handle and stream is gone: nobody can read the results.
                    Err(TryRecvError::Disconnected) => break 'outer,
                }
            }
            let ran = self.step();
            self.shared.heartbeat.fetch_add(1, Ordering::Relaxed);
            self.publish();
            if !ran && self.has_work() && !self.scheduler.has_pending_finishes() {
                // Requests exist but none could be scheduled (should not happen: submit only admits
                // requests that fit the cache). Wait for a command instead of spinning.
                match self.commands.recv_timeout(IDLE_POLL) {
                    Ok(cmd) => {
                        if !self.handle_command(cmd) {
                            break 'outer;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break 'outer,
                }
            }
        }
        self.abort_everything();
        self.publish();
    }

    /// Applies one command; `false` on `Shutdown`.
    fn handle_command(&mut self, cmd: EngineCommand) -> bool {
        match cmd {
            EngineCommand::Add(req) => self.add_group(*req),
            EngineCommand::Abort(group_id) => self.abort_group(group_id),
            EngineCommand::Shutdown => return false,
        }
        true
    }

    /// Queues the `n` samples of a group as scheduler requests.
    fn add_group(&mut self, req: PendingRequest) {
        let arrival = req.submitted_at.saturating_duration_since(self.shared.epoch).as_secs_f64();
        let mut ids = Vec::with_capacity(req.n);
        for index in 0..req.n {
            let id = RequestId(req.group_id.0 + index as u64);
            let mut params = req.sampling_params.clone();
            // Distinct samples of one seeded request: seed + index (sample 0 keeps the seed).
            params.seed = params.seed.map(|s| s.wrapping_add(index as u64));
            let stops = StopStringMatcher::new(&params.stop);
            let mut request = Request::new(id, req.prompt_token_ids.clone(), params, arrival)
                .with_eos(Arc::clone(&self.eos_token_ids))
                .with_priority(req.priority);
            request.tenant = req.tenant.clone();
            request.cache_salt = req.cache_salt.clone();
            if let Err(e) = self.scheduler.add_request(request) {
                let _ = req.events.send(StreamEvent::Error { index, message: EngineError::from(e).to_string() });
                let _ = req.events.send(StreamEvent::Finished {
                    index,
                    reason: FinishReason::Error,
                    usage: Usage { prompt_tokens: req.prompt_token_ids.len(), ..Usage::default() },
                });
                self.num_finished_requests += 1;
                continue;
            }
            let detokenizer = self.tokenizer.as_ref().map(|_| IncrementalDetokenizer::new(self.skip_special_tokens));
            let prompt_len = req.prompt_token_ids.len();
            self.samples.insert(
                id,
                SampleState {
                    group_id: req.group_id,
                    index,
                    detokenizer,
                    stops,
                    events: req.events.clone(),
                    submitted_at: req.submitted_at,
                    queue_time: None,
                    wants_token_logprobs: req.sampling_params.logprobs.is_some(),
                    prompt_logprobs: req.sampling_params.prompt_logprobs.map(|_| PromptLogprobsAccumulator::new(prompt_len)),
                },
            );
            ids.push(id);
        }
        if !ids.is_empty() {
            self.groups.insert(req.group_id, ids);
        }
    }

    /// Usage of a live request as the scheduler knows it (without the queue time, kept here).
    fn usage_of(&self, id: RequestId) -> Usage {
        self.scheduler.request(id).map_or_else(Usage::default, |r| Usage {
            prompt_tokens: r.num_prompt_tokens(),
            completion_tokens: r.num_output_tokens(),
            cached_prompt_tokens: r.num_cached_tokens,
            queue_time: None,
        })
    }

    /// Ends `id` in the scheduler (if still there) and tells its stream, with an error event first
    /// when `error` is set.
    fn end_sample(&mut self, id: RequestId, reason: FinishReason, error: Option<&str>) {
        let mut usage = self.usage_of(id);
        self.scheduler.finish_requests(&[id], reason);
        let Some(state) = self.remove_sample(id) else { return };
        usage.queue_time = state.queue_time;
        if let Some(message) = error {
            let _ = state.events.send(StreamEvent::Error { index: state.index, message: message.to_string() });
        }
        let _ = state.events.send(StreamEvent::Finished { index: state.index, reason, usage });
    }

    /// Forgets a sample's text state (and its group entry once the group is empty).
    fn remove_sample(&mut self, id: RequestId) -> Option<SampleState> {
        let state = self.samples.remove(&id)?;
        self.num_finished_requests += 1;
        if let Some(ids) = self.groups.get_mut(&state.group_id) {
            ids.retain(|&s| s != id);
            if ids.is_empty() {
                self.groups.remove(&state.group_id);
            }
        }
        Some(state)
    }

    fn abort_group(&mut self, group_id: RequestId) {
        let ids = self.groups.get(&group_id).cloned().unwrap_or_default();
        for id in ids {
            self.end_sample(id, FinishReason::Abort, None);
        }
    }

    /// Shutdown: every live sample ends with `Abort`; commands still queued are answered too.
    fn abort_everything(&mut self) {
        let ids: Vec<RequestId> = self.samples.keys().copied().collect();
        for id in ids {
            self.end_sample(id, FinishReason::Abort, None);
        }
        while let Ok(cmd) = self.commands.try_recv() {
            if let EngineCommand::Add(req) = cmd {
                for index in 0..req.n {
                    let usage = Usage { prompt_tokens: req.prompt_token_ids.len(), ..Usage::default() };
                    let _ = req.events.send(StreamEvent::Finished { index, reason: FinishReason::Abort, usage });
                }
            }
        }
    }

    /// One engine step (see the module documentation). Returns whether the model ran.
    pub fn step(&mut self) -> bool {
        let t_step = Instant::now();
        let out = self.scheduler.schedule();
        if out.is_empty() && out.finished_request_ids.is_empty() && out.preempted_request_ids.is_empty() {
            return false;
        }
        self.stamp_queue_times(&out);
        let t_exec = Instant::now();
        let result = match catch_unwind(AssertUnwindSafe(|| self.runner.execute(&out))) {
            Ok(result) => result,
            Err(payload) => Err(EngineError::RunnerPanic(panic_message(payload.as_ref()))),
        };
        let execute_seconds = t_exec.elapsed().as_secs_f64();
        if out.is_empty() {
            // Only state drops; a failure here leaves nothing to fail.
            return false;
        }
        let num_sampled = match result {
            Ok(runner_output) => {
                let sampled = runner_output.sampled_token_ids.iter().filter(|(_, t)| !t.is_empty()).count();
                self.apply_outputs(&out, runner_output);
                sampled
            }
            Err(e) => {
                self.fail_step(&out, &e);
                0
            }
        };
        self.num_steps += 1;
        let now_ms = self.shared.epoch.elapsed().as_millis() as u64;
        self.shared.last_step_ms.store(now_ms, Ordering::Relaxed);
        if self.shared.trace_capacity > 0 {
            let trace = step_trace(&out, num_sampled, execute_seconds, t_step.elapsed().as_secs_f64());
            let mut traces = lock(&self.shared.traces);
            if traces.len() == self.shared.trace_capacity {
                traces.pop_front();
            }
            traces.push_back(trace);
        }
        true
    }

    /// The step failed: every request it scheduled ends with an error; the others carry on.
    fn fail_step(&mut self, out: &SchedulerOutput, error: &EngineError) {
        self.num_step_errors += 1;
        let message = format!("engine step {} failed: {error}", out.step);
        for &(id, _) in &out.num_scheduled_tokens {
            self.end_sample(id, FinishReason::Error, Some(&message));
        }
    }

    /// Records when each sample is first scheduled (its queue time ends there; a request resumed
    /// after preemption keeps its first stamp).
    fn stamp_queue_times(&mut self, out: &SchedulerOutput) {
        if out.new_requests.is_empty() {
            return;
        }
        let now = Instant::now();
        for new in &out.new_requests {
            if let Some(state) = self.samples.get_mut(&new.request_id) {
                let waited = now.saturating_duration_since(state.submitted_at);
                state.queue_time.get_or_insert(waited);
            }
        }
    }

    /// Scheduler bookkeeping, then prompt logprobs, text and events per request.
    fn apply_outputs(&mut self, out: &SchedulerOutput, runner_output: ModelRunnerOutput) {
        let outputs = self.scheduler.update_from_output(out, &runner_output);
        let ModelRunnerOutput { logprobs, prompt_logprobs, .. } = runner_output;
        for (id, first, entries) in prompt_logprobs {
            let Some(state) = self.samples.get_mut(&id) else { continue };
            if let Some(acc) = state.prompt_logprobs.as_mut() {
                acc.add(first, entries);
                state.send_complete_prompt_logprobs();
            }
        }
        let mut token_logprobs: HashMap<RequestId, Vec<TokenLogprob>> = logprobs.into_iter().collect();
        let mut stopped_by_string = Vec::new();
        let mut receivers_gone = Vec::new();
        let mut runner_faults = Vec::new();
        for output in outputs {
            self.num_generated_tokens += output.new_token_ids.len() as u64;
            let Some(state) = self.samples.get_mut(&output.request_id) else { continue };
            // A one-token prompt has no prompt logprob to wait for: it is complete now.
            state.send_complete_prompt_logprobs();
            let logprobs = match accepted_logprobs(state, &mut token_logprobs, &output) {
                Ok(logprobs) => logprobs,
                Err(message) => {
                    runner_faults.push((output.request_id, message));
                    continue;
                }
            };
            let (text, reason) = process_text(state, self.tokenizer.as_deref(), &output);
            if reason == Some(FinishReason::Stop) && output.finish_reason.is_none() {
                stopped_by_string.push(output.request_id);
            }
            let index = state.index;
            let mut delivered = true;
            if !output.new_token_ids.is_empty() || !text.is_empty() {
                let event = StreamEvent::Tokens { index, token_ids: output.new_token_ids.clone(), text, logprobs };
                delivered = state.events.send(event).is_ok();
            }
            if let Some(reason) = reason {
                let usage = Usage {
                    prompt_tokens: output.num_prompt_tokens,
                    completion_tokens: output.num_output_tokens,
                    cached_prompt_tokens: output.num_cached_tokens,
                    queue_time: state.queue_time,
                };
                let _ = state.events.send(StreamEvent::Finished { index, reason, usage });
                self.remove_sample(output.request_id);
            } else if !delivered {
                receivers_gone.push(output.request_id);
            }
        }
        self.scheduler.finish_requests(&stopped_by_string, FinishReason::Stop);
        for id in receivers_gone {
            // The stream was dropped without its abort reaching us yet: stop wasting compute.
            self.end_sample(id, FinishReason::Abort, None);
        }
        for (id, message) in runner_faults {
            self.end_sample(id, FinishReason::Error, Some(&message));
        }
    }

    /// Publishes the stats snapshot.
    fn publish(&self) {
        let s = self.scheduler.stats();
        let kv = self.scheduler.kv_cache_manager();
        let snapshot = EngineStats {
            num_running: self.scheduler.num_running(),
            num_waiting: self.scheduler.num_waiting(),
            kv_cache_usage: self.scheduler.kv_cache_usage(),
            num_free_blocks: kv.num_free_blocks(),
            num_blocks: kv.pool().num_blocks(),
            num_preemptions: s.num_preemptions,
            prefix_cache_queried_tokens: s.prefix_cache_queried_tokens,
            prefix_cache_hit_tokens: s.prefix_cache_hit_tokens,
            num_steps: self.num_steps,
            num_step_errors: self.num_step_errors,
            num_generated_tokens: self.num_generated_tokens,
            num_finished_requests: self.num_finished_requests,
        };
        *lock(&self.shared.stats) = snapshot;
    }
}

/// The logprobs to attach to `output`'s `Tokens` event: `None` unless the sample asked `logprobs`,
/// else the runner's entries for the accepted tokens (the scheduler drops tokens past a stop
/// condition, so only the first `new_token_ids.len()` entries are kept). Fewer entries than
/// accepted tokens is a runner fault, reported as an error message.
fn accepted_logprobs(
    state: &SampleState,
    runner_logprobs: &mut HashMap<RequestId, Vec<TokenLogprob>>,
    output: &RequestOutput,
) -> Result<Option<Vec<TokenLogprob>>, String> {
    if !state.wants_token_logprobs {
        return Ok(None);
    }
    let accepted = output.new_token_ids.len();
    let mut entries = runner_logprobs.remove(&output.request_id).unwrap_or_default();
    if entries.len() < accepted {
        return Err(format!(
            "the model runner returned {} logprobs for {accepted} accepted tokens of {}",
            entries.len(),
            output.request_id
        ));
    }
    entries.truncate(accepted);
    Ok(Some(entries))
}

/// Detokenizes a request's new tokens and runs the stop strings. Returns the text to emit and the
/// finish reason (the scheduler's, or `Stop` when a stop string matched).
fn process_text(state: &mut SampleState, tokenizer: Option<&Tokenizer>, output: &RequestOutput) -> (String, Option<FinishReason>) {
    let mut reason = output.finish_reason;
    let (Some(detok), Some(tokenizer)) = (state.detokenizer.as_mut(), tokenizer) else {
        return (String::new(), reason);
    };
    let mut text = detok.push_all(tokenizer, &output.new_token_ids);
    if reason.is_some() {
        text.push_str(&detok.finish());
    }
    if !state.stops.is_active() {
        return (text, reason);
    }
    let mut emit = match state.stops.push(&text) {
        StopCheck::Continue { emit } => emit,
        StopCheck::Stopped { emit, .. } => {
            reason = Some(FinishReason::Stop);
            emit
        }
    };
    if reason.is_some() {
        // Ended (EOS, length, or the stop string itself): release held-back text (nothing after a stop).
        emit.push_str(&state.stops.finish());
    }
    (emit, reason)
}

/// The cost-model view of one executed step.
fn step_trace(out: &SchedulerOutput, num_sampled: usize, execute_seconds: f64, step_seconds: f64) -> StepTrace {
    let mut computed: HashMap<RequestId, (usize, bool)> = HashMap::with_capacity(out.num_scheduled_tokens.len());
    for r in &out.new_requests {
        computed.insert(r.request_id, (r.num_computed_tokens, true));
    }
    for r in &out.cached_requests {
        computed.insert(r.request_id, (r.num_computed_tokens, false));
    }
    let mut trace = StepTrace {
        step: out.step,
        num_scheduled_tokens: out.total_num_scheduled_tokens,
        num_seqs: out.num_scheduled_tokens.len(),
        num_prefill_tokens: 0,
        num_decode_seqs: 0,
        total_context_tokens: 0,
        num_sampled,
        execute_seconds,
        step_seconds,
    };
    for &(id, n) in &out.num_scheduled_tokens {
        let (before, is_new) = computed.get(&id).copied().unwrap_or((0, true));
        trace.total_context_tokens += before + n;
        if n == 1 && !is_new {
            trace.num_decode_seqs += 1;
        } else {
            trace.num_prefill_tokens += n;
        }
    }
    trace
}

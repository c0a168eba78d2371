//! One HTTP generation request in flight: its engine streams merged into one stream of choice
//! events, the per-choice accumulators, and the request's metrics and log line.
//!
//! A completions request with several prompts submits one engine request per prompt; choice
//! `prompt · n + sample` is sample `sample` of prompt `prompt` (OpenAI's numbering). Everything a
//! request holds — engine streams and its admission permit — is dropped with this struct, which is
//! what turns a client disconnect into engine aborts (the engine frees the blocks at its next
//! step) and a released admission slot. Timing definitions follow vLLM: TTFT from the request's
//! arrival to a choice's first token, inter-token latency between a choice's token deliveries,
//! e2e latency from arrival to the choice's end.
//!
//! Output safety sits here, between the engine and both response shapes: each choice's text goes
//! through its profile's [`OutputPipeline`] (hold-back, redaction, block) and, when configured, the
//! external moderation hook, before any route sees it. A choice a filter stops ends with
//! `finish_reason: content_filter`; when every choice has ended so, the engine requests are dropped
//! (aborted). At the end the tenant's token reservation is reconciled with the real usage.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::{IntoResponse, Response};
use futures_util::stream::{select_all, BoxStream, Stream, StreamExt};
use llmserve_engine::{EngineRequest, FinishReason, RequestStream, StreamEvent, TokenLogprob, Usage};

use crate::access::{RequestAccess, ANONYMOUS};
use crate::error::ApiError;
use crate::otel::request::GenerationTimes;
use crate::otel::RequestTrace;
use crate::rate_limit::TokenReservation;
use crate::safety::chain::{moderate_output, OutputPipeline, PipelineStep, SafetyRecorder};
use crate::safety::moderation::ModerationHook;
use crate::state::{AdmissionPermit, AppState};

/// Marks a response whose request already wrote its log line (the request-id middleware logs
/// refused requests that carry no such mark).
#[derive(Clone, Copy, Debug)]
pub struct RequestLogged;

/// An engine event tagged with its OpenAI choice index.
pub struct ChoiceEvent {
    pub choice: usize,
    pub event: StreamEvent,
}

/// What one choice has produced so far.
#[derive(Default)]
pub struct ChoiceState {
    pub text: String,
    pub num_tokens: usize,
    pub logprobs: Vec<TokenLogprob>,
    pub prompt_logprobs: Option<Vec<Option<TokenLogprob>>>,
    pub finish_reason: Option<FinishReason>,
    pub error: Option<String>,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub cached_tokens: usize,
    /// The engine's queue time of this sample (`None` until it finished, or if it never ran).
    pub queue_time: Option<Duration>,
    first_token_at: Option<Instant>,
    last_token_at: Option<Instant>,
}

/// The request: its streams, choices, timing, and the permit that counts it against the cap.
pub struct Generation {
    pub state: Arc<AppState>,
    pub request_id: String,
    pub route: &'static str,
    pub received: Instant,
    pub choices: Vec<ChoiceState>,
    /// Samples per prompt.
    pub n: usize,
    events: Option<BoxStream<'static, ChoiceEvent>>,
    num_finished: usize,
    logged: bool,
    _permit: AdmissionPermit,
    /// Tenant name for metrics and logs.
    tenant: Arc<str>,
    /// Tokens reserved against the tenant's per-minute limit; reconciled at the end.
    reservation: Option<TokenReservation>,
    /// Per choice: its output filters (`None` = text passes as generated).
    output: Vec<Option<OutputPipeline>>,
    /// The moderation hook when it checks output, with the recorder of its events.
    moderation: Option<(Arc<ModerationHook>, SafetyRecorder)>,
    /// Per choice: bytes of text already passed by output moderation.
    moderated_len: Vec<usize>,
    /// Per choice: ended by a safety filter (later engine events of it are ignored).
    stopped: Vec<bool>,
    /// Screened events not yet handed out.
    pending: VecDeque<ChoiceEvent>,
    /// When the engine requests were submitted (the trace's `queue` span starts here).
    submitted: Instant,
    /// The request's trace when tracing is on; gets the engine timing and usage at the end.
    trace: Option<RequestTrace>,
}

impl Generation {
    /// Submits one engine request per prompt. On a submit error the already-submitted ones are
    /// dropped (aborted) with `self`.
    pub fn submit(
        state: &Arc<AppState>,
        request_id: String,
        route: &'static str,
        received: Instant,
        requests: Vec<EngineRequest>,
        permit: AdmissionPermit,
        prompt_param: &str,
    ) -> Result<Generation, ApiError> {
        let n = requests.first().map_or(1, |r| r.n);
        let mut streams: Vec<Pin<Box<dyn Stream<Item = ChoiceEvent> + Send>>> = Vec::with_capacity(requests.len());
        let mut choices = Vec::with_capacity(requests.len() * n);
        for (prompt_index, request) in requests.into_iter().enumerate() {
            let prompt_tokens = request.prompt_token_ids.len();
            let stream: RequestStream =
                state.engine.submit(request).map_err(|e| ApiError::from_engine(e, &request_id, prompt_param))?;
            let base = prompt_index * n;
            streams.push(Box::pin(stream.map(move |event| ChoiceEvent { choice: base + event.index(), event })));
            choices.extend((0..n).map(|_| ChoiceState { prompt_tokens, ..ChoiceState::default() }));
        }
        Ok(Generation {
            state: Arc::clone(state),
            request_id,
            route,
            received,
            choices,
            n,
            events: Some(select_all(streams).boxed()),
            num_finished: 0,
            logged: false,
            _permit: permit,
            tenant: Arc::from(ANONYMOUS),
            reservation: None,
            output: Vec::new(),
            moderation: None,
            moderated_len: Vec::new(),
            stopped: Vec::new(),
            pending: VecDeque::new(),
            submitted: Instant::now(),
            trace: None,
        })
    }

    /// Attaches the caller's tenant, token reservation and output safety (profile of `access`).
    pub fn with_access(mut self, access: &RequestAccess, recorder: SafetyRecorder, reservation: Option<TokenReservation>) -> Generation {
        let k = self.choices.len();
        self.tenant = Arc::clone(&access.tenant_label);
        self.reservation = reservation;
        self.output = (0..k).map(|_| OutputPipeline::new(&access.profile, recorder.clone())).collect();
        self.moderation = access.profile.output_moderation.as_ref().map(|hook| (Arc::clone(hook), recorder));
        self.moderated_len = vec![0; k];
        self.stopped = vec![false; k];
        self
    }

    /// Reports timing and usage to `trace` when the request ends (tracing on).
    pub fn with_trace(mut self, trace: Option<RequestTrace>) -> Generation {
        self.trace = trace;
        self
    }

    /// Whether every choice has finished.
    pub fn is_done(&self) -> bool {
        self.num_finished == self.choices.len()
    }

    /// The next event, screened by the output filters and applied to its choice's state and the
    /// metrics; `None` at the end.
    pub async fn next(&mut self) -> Option<ChoiceEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                self.apply(&e);
                return Some(e);
            }
            match self.events.as_mut()?.next().await {
                Some(e) => {
                    self.screen(e).await;
                    if !self.stopped.is_empty() && self.stopped.iter().all(|s| *s) {
                        // Every choice was stopped by a filter: abort the engine requests.
                        self.events = None;
                    }
                }
                None => {
                    self.events = None;
                    return self.pending.pop_front().inspect(|e| self.apply(e));
                }
            }
        }
    }

    /// Passes `e` through its choice's output filters into `pending`.
    async fn screen(&mut self, e: ChoiceEvent) {
        let c = e.choice;
        if self.stopped.get(c).copied().unwrap_or(false) {
            return;
        }
        let filtered = self.output.get(c).is_some_and(Option::is_some) || self.moderation.is_some();
        if !filtered {
            self.pending.push_back(e);
            return;
        }
        match e.event {
            StreamEvent::Tokens { index, token_ids, text, logprobs } => {
                let step = match self.output.get_mut(c).and_then(Option::as_mut) {
                    Some(p) => p.push(&text),
                    None => PipelineStep { text, stop: false },
                };
                let moderation_ok = step.stop || self.moderate(c, &step.text, false).await;
                // Text the moderation service flagged is withheld.
                let text = if moderation_ok { step.text } else { String::new() };
                let tokens = token_ids.len();
                self.pending.push_back(ChoiceEvent { choice: c, event: StreamEvent::Tokens { index, token_ids, text, logprobs } });
                if step.stop || !moderation_ok {
                    self.stop_choice(c, index, tokens);
                }
            }
            StreamEvent::Finished { index, reason, usage } => {
                let step = match self.output.get_mut(c).and_then(Option::as_mut) {
                    Some(p) => p.finish(),
                    None => PipelineStep::default(),
                };
                let moderation_ok = step.stop || self.moderate(c, &step.text, true).await;
                if moderation_ok && !step.text.is_empty() {
                    let event = StreamEvent::Tokens { index, token_ids: Vec::new(), text: step.text, logprobs: None };
                    self.pending.push_back(ChoiceEvent { choice: c, event });
                }
                if step.stop || !moderation_ok {
                    self.stop_choice(c, index, 0);
                } else {
                    self.pending.push_back(ChoiceEvent { choice: c, event: StreamEvent::Finished { index, reason, usage } });
                }
            }
            event => self.pending.push_back(ChoiceEvent { choice: c, event }),
        }
    }

    /// Whether choice `c` may go on after `new_text`: output moderation runs every
    /// `output_interval_chars` of new text and once at the end (`last`).
    async fn moderate(&mut self, c: usize, new_text: &str, last: bool) -> bool {
        let Some((hook, recorder)) = &self.moderation else { return true };
        let Some(choice) = self.choices.get(c) else { return true };
        let total = choice.text.len() + new_text.len();
        let checked = self.moderated_len.get(c).copied().unwrap_or(0);
        let due = if last { total > checked } else { total - checked >= hook.config().output_interval_chars };
        if !due {
            return true;
        }
        let text = format!("{}{}", choice.text, new_text);
        if let Some(m) = self.moderated_len.get_mut(c) {
            *m = total;
        }
        let (hook, recorder) = (Arc::clone(hook), recorder.clone());
        moderate_output(&hook, &text, &recorder).await
    }

    /// Ends choice `c` (engine sample `index`) with `content_filter`; `extra_tokens` were just
    /// queued and are not yet counted in its state.
    fn stop_choice(&mut self, c: usize, index: usize, extra_tokens: usize) {
        let Some(choice) = self.choices.get(c) else { return };
        if let Some(s) = self.stopped.get_mut(c) {
            *s = true;
        }
        let usage = Usage {
            prompt_tokens: choice.prompt_tokens,
            completion_tokens: choice.num_tokens + extra_tokens,
            ..Usage::default()
        };
        self.pending.push_back(ChoiceEvent { choice: c, event: StreamEvent::Finished { index, reason: FinishReason::ContentFilter, usage } });
    }

    fn apply(&mut self, e: &ChoiceEvent) {
        let now = Instant::now();
        let metrics = &self.state.metrics;
        let Some(choice) = self.choices.get_mut(e.choice) else { return };
        match &e.event {
            StreamEvent::Tokens { token_ids, text, logprobs, .. } => {
                if !token_ids.is_empty() {
                    match choice.last_token_at {
                        None => {
                            metrics.time_to_first_token.observe(now.duration_since(self.received).as_secs_f64());
                            choice.first_token_at = Some(now);
                        }
                        Some(last) => metrics.inter_token_latency.observe(now.duration_since(last).as_secs_f64()),
                    }
                    choice.last_token_at = Some(now);
                }
                choice.num_tokens += token_ids.len();
                choice.text.push_str(text);
                if let Some(lp) = logprobs {
                    choice.logprobs.extend(lp.iter().cloned());
                }
            }
            StreamEvent::PromptLogprobs { logprobs, .. } => choice.prompt_logprobs = Some(logprobs.clone()),
            StreamEvent::Error { message, .. } => choice.error = Some(message.clone()),
            StreamEvent::Finished { reason, usage, .. } => {
                choice.finish_reason = Some(*reason);
                choice.prompt_tokens = usage.prompt_tokens;
                choice.completion_tokens = usage.completion_tokens;
                choice.cached_tokens = usage.cached_prompt_tokens;
                choice.queue_time = usage.queue_time;
                self.num_finished += 1;
                metrics.finished.with_label_values(&[reason.as_str()]).inc();
                metrics.e2e_request_latency.observe(now.duration_since(self.received).as_secs_f64());
                if let Some(q) = usage.queue_time {
                    metrics.queue_time.observe(q.as_secs_f64());
                }
            }
        }
    }

    /// Usage of the whole request: each prompt counted once (OpenAI), completions summed.
    pub fn usage(&self) -> crate::openai::UsageBody {
        let mut prompt = 0;
        let mut cached = 0;
        for group in self.choices.chunks(self.n.max(1)) {
            prompt += group[0].prompt_tokens;
            cached += group.iter().map(|c| c.cached_tokens).max().unwrap_or(0);
        }
        let completion = self.choices.iter().map(|c| c.completion_tokens).sum();
        crate::openai::UsageBody::new(prompt, completion, cached)
    }

    /// The first engine error of any choice, as a 500 naming the request.
    pub fn engine_error(&self) -> Option<ApiError> {
        let message = self.choices.iter().find_map(|c| c.error.clone())?;
        Some(ApiError::Engine { request_id: self.request_id.clone(), message })
    }

    /// Reads every event (non-streamed responses). On an engine failure the request is logged and
    /// its 500 response returned, marked as logged.
    pub async fn run_to_end(&mut self) -> Result<(), Response> {
        while self.next().await.is_some() {}
        let Some(error) = self.engine_error() else { return Ok(()) };
        self.finish_log("engine_error");
        let mut response = error.into_response();
        response.extensions_mut().insert(RequestLogged);
        Err(response)
    }

    /// Time to the first token of any choice.
    fn ttft_seconds(&self) -> Option<f64> {
        self.choices.iter().filter_map(|c| c.first_token_at).min().map(|t| t.duration_since(self.received).as_secs_f64())
    }

    /// Counts the tokens and writes the request's log line (once).
    pub fn finish_log(&mut self, status: &'static str) {
        if self.logged {
            return;
        }
        self.logged = true;
        let usage = self.usage();
        let metrics = &self.state.metrics;
        metrics.prompt_tokens.inc_by(usage.prompt_tokens as u64);
        metrics.generation_tokens.inc_by(usage.completion_tokens as u64);
        metrics.tenant_tokens.with_label_values(&[&self.tenant, "prompt"]).inc_by(usage.prompt_tokens as u64);
        metrics.tenant_tokens.with_label_values(&[&self.tenant, "completion"]).inc_by(usage.completion_tokens as u64);
        if let Some(reservation) = self.reservation.take() {
            // A request cut short (disconnect, filter) used fewer tokens than it reserved: refund.
            reservation.reconcile((usage.prompt_tokens + usage.completion_tokens) as u64, self.state.access.limiters.now());
        }
        let reasons: Vec<&'static str> = self.choices.iter().map(|c| c.finish_reason.map_or("none", FinishReason::as_str)).collect();
        if let Some(trace) = &self.trace {
            trace.record_generation(GenerationTimes {
                submitted: Some(self.submitted),
                queue_time: self.choices.iter().filter_map(|c| c.queue_time).min(),
                first_token: self.choices.iter().filter_map(|c| c.first_token_at).min(),
                last_token: self.choices.iter().filter_map(|c| c.last_token_at).max(),
                ended: Some(Instant::now()),
                input_tokens: usage.prompt_tokens,
                output_tokens: usage.completion_tokens,
                cached_tokens: usage.prompt_tokens_details.cached_tokens,
                finish_reasons: reasons.clone(),
                outcome: status,
            });
        }
        tracing::info!(
            target: "llmserve::request",
            request_id = %self.request_id,
            route = self.route,
            tenant = %self.tenant,
            model = %self.state.config.model_id,
            status,
            finish_reasons = %reasons.join(","),
            prompt_tokens = usage.prompt_tokens,
            completion_tokens = usage.completion_tokens,
            cached_tokens = usage.prompt_tokens_details.cached_tokens,
            ttft_s = self.ttft_seconds(),
            e2e_s = self.received.elapsed().as_secs_f64(),
            trace_id = self.trace.as_ref().map(RequestTrace::trace_id),
            "request finished"
        );
    }
}

impl Drop for Generation {
    /// A request dropped before every choice finished was abandoned by its client: its engine
    /// streams abort as they drop; count those choices as aborted and log the request.
    fn drop(&mut self) {
        let unfinished = self.choices.iter().filter(|c| c.finish_reason.is_none()).count();
        if unfinished > 0 && self.events.is_some() {
            self.state.metrics.finished.with_label_values(&[FinishReason::Abort.as_str()]).inc_by(unfinished as u64);
        }
        if !self.logged {
            let status = if self.is_done() { "ok" } else { "client_disconnected" };
            self.finish_log(status);
        }
    }
}

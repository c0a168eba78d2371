//! Running a profile: the input chain (every filter in order over the request's messages, before
//! tokenization; the first block refuses the request) and the output pipeline (one per choice:
//! generated text flows through each output filter in order, each may hold text back, redact, or
//! stop the choice). Every finding is counted in `llmserve_safety_events_total{tenant,filter,action}`
//! and logged (target `llmserve::safety`) without the offending text unless the profile's
//! `log_content` says otherwise.

use std::sync::Arc;

use crate::error::ApiError;
use crate::metrics::Metrics;

use super::filter::{InputFinding, InputText, OutputFilter, OutputStep, SafetyAction};
use super::moderation::{ModerationHook, ModerationVerdict};
use super::profile::SafetyProfile;

/// Counts and logs safety events of one request.
#[derive(Clone)]
pub struct SafetyRecorder {
    pub metrics: Arc<Metrics>,
    pub tenant: Arc<str>,
    pub request_id: String,
    pub log_content: bool,
}

impl SafetyRecorder {
    /// One event: `action` is what was done (`block`, `redact`, `flag`, `allow`, `fail_open`,
    /// `fail_closed`). `content` is logged only when the profile allows it.
    pub fn record(&self, filter: &str, action: &str, category: &str, score: Option<f32>, content: Option<&str>) {
        self.metrics.safety_events.with_label_values(&[&self.tenant, filter, action]).inc();
        let content = if self.log_content { content } else { None };
        tracing::info!(
            target: "llmserve::safety",
            request_id = %self.request_id,
            tenant = %self.tenant,
            filter,
            action,
            category,
            score,
            content,
            "safety event"
        );
    }
}

/// What the input chain decided (when it did not refuse).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputVerdict {
    /// A filter flagged the request: the response carries `x-llmserve-safety: flagged`.
    pub flagged: bool,
}

/// Runs every filter of `profile` over `input`, in order.
pub async fn check_input(profile: &SafetyProfile, input: &[InputText], recorder: &SafetyRecorder) -> Result<InputVerdict, ApiError> {
    let mut verdict = InputVerdict::default();
    for filter in &profile.filters {
        let finding = filter.check_input(input).await;
        match &finding {
            InputFinding::Clean => {}
            InputFinding::Found { category, score, param, message } => {
                let action = filter.action_for(&finding);
                let content = param.as_ref().and_then(|p| input.iter().find(|t| &t.param == p)).map(|t| t.text.as_str());
                recorder.record(filter.name(), action.as_str(), category, *score, content);
                match action {
                    SafetyAction::Block | SafetyAction::Redact => {
                        return Err(ApiError::SafetyBlocked { code: filter.block_code(), message: message.clone(), param: param.clone() })
                    }
                    SafetyAction::Flag => verdict.flagged = true,
                    SafetyAction::Allow => {}
                }
            }
            InputFinding::Unavailable(reason) => {
                if filter.fails_closed() {
                    recorder.record(filter.name(), "fail_closed", "unavailable", None, None);
                    tracing::warn!(request_id = %recorder.request_id, filter = filter.name(), %reason, "safety check unavailable: request refused (fail-closed)");
                    return Err(ApiError::SafetyUnavailable { filter: filter.name(), reason: reason.clone() });
                }
                recorder.record(filter.name(), "fail_open", "unavailable", None, None);
                tracing::warn!(request_id = %recorder.request_id, filter = filter.name(), %reason, "safety check unavailable: request let through (fail-open)");
            }
        }
    }
    Ok(verdict)
}

/// What one choice may send after a step of the output pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStep {
    pub text: String,
    /// A block action fired: the choice ends after `text` with `finish_reason: content_filter`.
    pub stop: bool,
}

/// One choice's output filters, in profile order.
pub struct OutputPipeline {
    stages: Vec<(&'static str, SafetyAction, Box<dyn OutputFilter>)>,
    recorder: SafetyRecorder,
    finished: bool,
}

/// `a` then `b` as one step.
fn merge(mut a: OutputStep, b: OutputStep) -> OutputStep {
    let offset = a.text.len();
    a.stop_at = a.stop_at.or(b.stop_at.map(|s| s + offset));
    a.text.push_str(&b.text);
    a.findings.extend(b.findings);
    a
}

impl OutputPipeline {
    /// The pipeline of `profile`, or `None` when no filter of it looks at output text.
    pub fn new(profile: &SafetyProfile, recorder: SafetyRecorder) -> Option<OutputPipeline> {
        let stages: Vec<_> = profile.filters.iter().filter_map(|f| Some((f.name(), f.action(), f.output_filter()?))).collect();
        (!stages.is_empty()).then_some(OutputPipeline { stages, recorder, finished: false })
    }

    /// Feeds newly generated text; returns what may be sent now.
    pub fn push(&mut self, text: &str) -> PipelineStep {
        self.run(text, false)
    }

    /// The choice ended: releases everything held back.
    pub fn finish(&mut self) -> PipelineStep {
        self.run("", true)
    }

    fn run(&mut self, text: &str, finishing: bool) -> PipelineStep {
        if self.finished {
            return PipelineStep { text: String::new(), stop: true };
        }
        let mut text = text.to_string();
        let mut stop = false;
        for (name, action, filter) in &mut self.stages {
            // After a stop (or at the end) every later stage is flushed: nothing more will come.
            let step = if finishing || stop {
                let pushed = if text.is_empty() { OutputStep::default() } else { filter.push(&text) };
                merge(pushed, filter.finish())
            } else {
                filter.push(&text)
            };
            for kind in &step.findings {
                self.recorder.record(name, action.as_str(), kind, None, None);
            }
            text = step.text;
            if let Some(at) = step.stop_at {
                text.truncate(at);
                stop = true;
            }
        }
        if stop || finishing {
            self.finished = true;
        }
        PipelineStep { text, stop }
    }
}

/// Whether the output so far may continue after a moderation check.
pub async fn moderate_output(hook: &ModerationHook, text: &str, recorder: &SafetyRecorder) -> bool {
    let config = hook.config();
    match hook.moderate(&[text]).await {
        Ok(ModerationVerdict::Clean) => true,
        Ok(ModerationVerdict::Flagged(categories)) => {
            let category = categories.first().map_or("flagged", String::as_str);
            recorder.record("moderation", config.action.as_str(), category, None, Some(text));
            config.action != SafetyAction::Block
        }
        Err(reason) => {
            let closed = config.fail_closed;
            recorder.record("moderation", if closed { "fail_closed" } else { "fail_open" }, "unavailable", None, None);
            tracing::warn!(request_id = %recorder.request_id, %reason, fail_closed = closed, "output moderation unavailable");
            !closed
        }
    }
}

//! The detectors as chain filters: prompt-injection detection on input ([`InjectionFilter`]) and
//! span detectors (PII, sensitive words) on output and optionally input ([`SpanFilter`]), each
//! output filter streaming through a hold-back [`StreamRedactor`].

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::filter::{InputFinding, InputText, OutputFilter, OutputStep, SafetyAction, SafetyFilter};
use super::holdback::{Span, SpanDetector, StreamRedactor};
use super::injection::{InjectionDetector, DEFAULT_BLOCK_THRESHOLD, DEFAULT_FLAG_THRESHOLD};
use super::pii::PiiDetector;
use super::words::SensitiveWords;

/// Prompt-injection detection over the untrusted messages (user, tool, completions prompts).
pub struct InjectionFilter {
    detector: InjectionDetector,
    action: SafetyAction,
    flag_threshold: f32,
    block_threshold: f32,
}

impl InjectionFilter {
    pub fn new(action: SafetyAction, flag_threshold: Option<f32>, block_threshold: Option<f32>) -> InjectionFilter {
        InjectionFilter {
            detector: InjectionDetector::new(),
            action,
            flag_threshold: flag_threshold.unwrap_or(DEFAULT_FLAG_THRESHOLD),
            block_threshold: block_threshold.unwrap_or(DEFAULT_BLOCK_THRESHOLD),
        }
    }

    /// The highest-scoring untrusted text: (score, category, param).
    fn worst(&self, input: &[InputText]) -> Option<(f32, &'static str, String)> {
        let mut worst: Option<(f32, &'static str, String)> = None;
        for item in input.iter().filter(|t| t.is_untrusted()) {
            let scan = self.detector.scan(&item.text);
            let Some(category) = scan.top_category() else { continue };
            if worst.as_ref().is_none_or(|(s, _, _)| scan.score > *s) {
                worst = Some((scan.score, category.as_str(), item.param.clone()));
            }
        }
        worst
    }
}

impl SafetyFilter for InjectionFilter {
    fn name(&self) -> &'static str {
        "injection"
    }
    fn action(&self) -> SafetyAction {
        self.action
    }
    fn action_for(&self, finding: &InputFinding) -> SafetyAction {
        match finding {
            InputFinding::Found { score: Some(s), .. } if self.action == SafetyAction::Block && *s < self.block_threshold => {
                SafetyAction::Flag
            }
            _ => self.action,
        }
    }
    fn block_code(&self) -> &'static str {
        "prompt_injection_detected"
    }
    fn check_input<'a>(&'a self, input: &'a [InputText]) -> BoxFuture<'a, InputFinding> {
        let finding = match self.worst(input) {
            Some((score, category, param)) if score >= self.flag_threshold => InputFinding::Found {
                category: category.to_string(),
                score: Some(score),
                message: format!(
                    "`{param}` looks like a prompt-injection attempt ({category}, score {score:.2}, block threshold {:.2}); \
                     the request was refused",
                    self.block_threshold
                ),
                param: Some(param),
            },
            _ => InputFinding::Clean,
        };
        Box::pin(std::future::ready(finding))
    }
}

/// A span detector whose findings are reported but not replaced (actions flag / allow / block:
/// block cuts the text before the finding instead of replacing it).
struct KeepOriginal(Arc<dyn SpanDetector>);

impl SpanDetector for KeepOriginal {
    fn find(&self, text: &str) -> Vec<Span> {
        let mut spans = self.0.find(text);
        for s in &mut spans {
            s.replacement = text.get(s.start..s.end).unwrap_or_default().to_string();
        }
        spans
    }
    fn hold_from(&self, text: &str) -> usize {
        self.0.hold_from(text)
    }
    fn max_span_len(&self) -> usize {
        self.0.max_span_len()
    }
}

/// PII or sensitive words: a span detector on output (streamed with hold-back) and, for words,
/// optionally on input.
pub struct SpanFilter {
    name: &'static str,
    detector: Arc<dyn SpanDetector>,
    action: SafetyAction,
    input: bool,
    output: bool,
}

impl SpanFilter {
    /// PII redaction (output only).
    pub fn pii(detector: PiiDetector, action: SafetyAction) -> SpanFilter {
        SpanFilter { name: "pii", detector: Arc::new(detector), action, input: false, output: true }
    }

    /// Sensitive words on input and/or output.
    pub fn words(words: SensitiveWords, action: SafetyAction, input: bool, output: bool) -> SpanFilter {
        SpanFilter { name: "sensitive_words", detector: Arc::new(words), action, input, output }
    }
}

impl SafetyFilter for SpanFilter {
    fn name(&self) -> &'static str {
        self.name
    }
    fn action(&self) -> SafetyAction {
        self.action
    }
    fn action_for(&self, _finding: &InputFinding) -> SafetyAction {
        // On input there is nothing to redact in place: a redact filter blocks.
        if self.action == SafetyAction::Redact {
            SafetyAction::Block
        } else {
            self.action
        }
    }
    fn check_input<'a>(&'a self, input: &'a [InputText]) -> BoxFuture<'a, InputFinding> {
        let mut finding = InputFinding::Clean;
        if self.input {
            for item in input {
                if let Some(span) = self.detector.find(&item.text).into_iter().next() {
                    finding = InputFinding::Found {
                        category: span.kind.to_string(),
                        score: None,
                        message: format!("`{}` contains content this server does not accept ({})", item.param, span.kind),
                        param: Some(item.param.clone()),
                    };
                    break;
                }
            }
        }
        Box::pin(std::future::ready(finding))
    }
    fn output_filter(&self) -> Option<Box<dyn OutputFilter>> {
        if !self.output {
            return None;
        }
        let detector: Arc<dyn SpanDetector> = match self.action {
            SafetyAction::Redact => Arc::clone(&self.detector),
            _ => Arc::new(KeepOriginal(Arc::clone(&self.detector))),
        };
        Some(Box::new(SpanOutput { redactor: StreamRedactor::new(detector), action: self.action }))
    }
}

/// One choice's stream through a span filter.
struct SpanOutput {
    redactor: StreamRedactor,
    action: SafetyAction,
}

impl SpanOutput {
    fn step(&self, redacted: super::holdback::Redacted) -> OutputStep {
        let stop_at = match self.action {
            SafetyAction::Block => redacted.spans.first().map(|s| s.output_start),
            _ => None,
        };
        OutputStep { findings: redacted.spans.iter().map(|s| s.kind).collect(), text: redacted.text, stop_at }
    }
}

impl OutputFilter for SpanOutput {
    fn push(&mut self, text: &str) -> OutputStep {
        let r = self.redactor.push(text);
        self.step(r)
    }
    fn finish(&mut self) -> OutputStep {
        let r = self.redactor.finish();
        self.step(r)
    }
}

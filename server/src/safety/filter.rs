//! The [`SafetyFilter`] trait every filter of the chain implements, the actions a profile can give
//! a filter, and what filters report. A filter looks at the request's input (the whole conversation
//! at once, before tokenization) and/or at the generated output (one [`OutputFilter`] per choice,
//! fed the text as it streams). The chain (see [`super::chain`]) applies the action.
//!
//! Modelled on the guardrail pipelines of NeMo Guardrails / LLM Guard (ordered scanners, each with
//! its own verdict), with actions as the issue names them: block, redact, flag, allow.

use std::fmt;
use std::str::FromStr;

use futures_util::future::BoxFuture;

/// What the chain does when a filter finds something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SafetyAction {
    /// Input: refuse the request (400). Output: stop the choice with `finish_reason: content_filter`,
    /// the offending text withheld.
    Block,
    /// Output: replace the finding (`[EMAIL]`, `***`) and go on.
    Redact,
    /// Let it through, count and log it, and mark the response (`x-llmserve-safety: flagged`).
    Flag,
    /// Let it through, count and log it only (shadow mode while tuning a filter).
    Allow,
}

impl SafetyAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            SafetyAction::Block => "block",
            SafetyAction::Redact => "redact",
            SafetyAction::Flag => "flag",
            SafetyAction::Allow => "allow",
        }
    }
}

impl fmt::Display for SafetyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SafetyAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "block" => Ok(SafetyAction::Block),
            "redact" => Ok(SafetyAction::Redact),
            "flag" => Ok(SafetyAction::Flag),
            "allow" => Ok(SafetyAction::Allow),
            other => Err(format!("unknown action `{other}`; expected block, redact, flag or allow")),
        }
    }
}

/// One piece of caller-written input: a message's content or a completions prompt.
#[derive(Clone, Debug)]
pub struct InputText {
    /// Where it came from, as an API parameter path (`messages[2].content`, `prompt[0]`).
    pub param: String,
    /// The chat role (`user`, `system`, `tool` …); `None` for completions prompts.
    pub role: Option<String>,
    pub text: String,
}

impl InputText {
    /// Whether the text was written by the end user or a tool rather than the application's own
    /// system prompt (injection detection looks at these only).
    pub fn is_untrusted(&self) -> bool {
        !matches!(self.role.as_deref(), Some("system" | "developer" | "assistant"))
    }
}

/// What an input filter found.
#[derive(Clone, Debug, PartialEq)]
pub enum InputFinding {
    Clean,
    Found {
        /// Filter-specific category (`instruction_override`, `too_many_messages`, `violence` …).
        category: String,
        /// Detector score when it has one.
        score: Option<f32>,
        /// The parameter that triggered it.
        param: Option<String>,
        /// What a refused caller is told (never echoes the offending text).
        message: String,
    },
    /// The filter could not decide (external service down or slow); the profile's failure mode
    /// chooses between letting the request through and refusing it with 503.
    Unavailable(String),
}

/// What an output filter releases after seeing more text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputStep {
    /// Text that may be sent now (redactions applied).
    pub text: String,
    /// Categories found in this step (`email`, `sensitive_word` …).
    pub findings: Vec<&'static str>,
    /// The filter's action is block and it found something: the choice ends here, after
    /// `text[..stop_at]`.
    pub stop_at: Option<usize>,
}

/// The per-choice streaming side of an output filter. It may hold text back (a finding can be split
/// across chunks); `finish` releases the rest when the choice ends.
pub trait OutputFilter: Send {
    fn push(&mut self, text: &str) -> OutputStep;
    fn finish(&mut self) -> OutputStep;
}

/// One filter of a profile's chain.
pub trait SafetyFilter: Send + Sync {
    /// The metric / log name (`injection`, `pii`, `sensitive_words`, `moderation`, `input_limits`).
    fn name(&self) -> &'static str;
    /// What the chain does with a finding.
    fn action(&self) -> SafetyAction;
    /// The action for one finding; filters with graded findings override it (injection: a score
    /// between the flag and block thresholds is flagged even when the action is block).
    fn action_for(&self, _finding: &InputFinding) -> SafetyAction {
        self.action()
    }
    /// The `code` of the 400 when this filter blocks input.
    fn block_code(&self) -> &'static str {
        "content_filter"
    }
    /// Inspects the request's input; the default looks at nothing.
    fn check_input<'a>(&'a self, _input: &'a [InputText]) -> BoxFuture<'a, InputFinding> {
        Box::pin(std::future::ready(InputFinding::Clean))
    }
    /// Whether an [`InputFinding::Unavailable`] refuses the request (503) instead of letting it
    /// through.
    fn fails_closed(&self) -> bool {
        false
    }
    /// A fresh per-choice output filter, when this filter inspects output.
    fn output_filter(&self) -> Option<Box<dyn OutputFilter>> {
        None
    }
    /// Whether this filter inspects output asynchronously (the external moderation hook): see
    /// [`super::chain::OutputModeration`].
    fn moderates_output(&self) -> bool {
        false
    }
}

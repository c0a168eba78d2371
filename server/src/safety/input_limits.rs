//! Input validation, the first filter of every chain: the number of messages, the total number of
//! characters across them, and control characters (C0 / C1 other than tab, newline and carriage
//! return, which no chat text needs and which hide content from reviewers and logs). Each refusal
//! names the limit; defaults 100 messages and 50,000 characters as the issue sets them.

use futures_util::future::BoxFuture;

use super::filter::{InputFinding, InputText, SafetyAction, SafetyFilter};

/// The limits of one profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputLimits {
    pub max_messages: usize,
    pub max_characters: usize,
    /// Refuse text containing control characters.
    pub reject_control_characters: bool,
}

impl Default for InputLimits {
    fn default() -> InputLimits {
        InputLimits { max_messages: 100, max_characters: 50_000, reject_control_characters: true }
    }
}

/// Whether `c` is a control character no chat text needs.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

impl InputLimits {
    /// The first limit `input` breaks.
    pub fn check(&self, input: &[InputText]) -> InputFinding {
        let found = |category: &str, param: Option<String>, message: String| InputFinding::Found {
            category: category.to_string(),
            score: None,
            param,
            message,
        };
        if input.len() > self.max_messages {
            return found(
                "too_many_messages",
                Some("messages".into()),
                format!("the request has {} messages; the limit is {}", input.len(), self.max_messages),
            );
        }
        let mut total = 0usize;
        for item in input {
            total += item.text.chars().count();
            if self.reject_control_characters {
                if let Some((at, c)) = item.text.chars().enumerate().find(|(_, c)| is_forbidden_control(*c)) {
                    return found(
                        "control_characters",
                        Some(item.param.clone()),
                        format!(
                            "`{}` contains the control character U+{:04X} at character {at}; control characters other than \
                             tab, newline and carriage return are not accepted",
                            item.param, c as u32
                        ),
                    );
                }
            }
        }
        if total > self.max_characters {
            return found(
                "too_many_characters",
                Some("messages".into()),
                format!("the request's text has {total} characters; the limit is {}", self.max_characters),
            );
        }
        InputFinding::Clean
    }
}

/// [`InputLimits`] as a chain filter (always `block`).
pub struct InputLimitsFilter(pub InputLimits);

impl SafetyFilter for InputLimitsFilter {
    fn name(&self) -> &'static str {
        "input_limits"
    }
    fn action(&self) -> SafetyAction {
        SafetyAction::Block
    }
    fn block_code(&self) -> &'static str {
        "input_limit_exceeded"
    }
    fn check_input<'a>(&'a self, input: &'a [InputText]) -> BoxFuture<'a, InputFinding> {
        Box::pin(std::future::ready(self.0.check(input)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> InputText {
        InputText { param: "messages[0].content".into(), role: Some("user".into()), text: t.into() }
    }

    #[test]
    fn each_limit_names_itself() {
        let limits = InputLimits { max_messages: 2, max_characters: 10, reject_control_characters: true };
        assert_eq!(limits.check(&[text("hello"), text("world")]), InputFinding::Clean);
        let InputFinding::Found { category, message, .. } = limits.check(&[text("a"), text("b"), text("c")]) else { panic!() };
        assert_eq!(category, "too_many_messages");
        assert!(message.contains("limit is 2"), "{message}");
        let InputFinding::Found { category, message, .. } = limits.check(&[text("hello"), text("world!")]) else { panic!() };
        assert_eq!(category, "too_many_characters");
        assert!(message.contains("11 characters") && message.contains("limit is 10"), "{message}");
        let InputFinding::Found { category, message, param, .. } = limits.check(&[text("a\u{0007}b")]) else { panic!() };
        assert_eq!(category, "control_characters");
        assert_eq!(param.as_deref(), Some("messages[0].content"));
        assert!(message.contains("U+0007"), "{message}");
        // Tab / newline / CR are fine; characters are counted, not bytes.
        assert_eq!(limits.check(&[text("a\tb\r\n"), text("你好")]), InputFinding::Clean);
        assert_eq!(limits.check(&[text("你好你好你好你好你好")]), InputFinding::Clean);
    }
}

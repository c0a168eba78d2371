//! Streaming-safe redaction: generated text arrives in chunks of a few characters, and a PII
//! string or sensitive word split across chunks must be replaced before any of its characters
//! leaves the server.
//!
//! The model is the "hold-back buffer" of streaming output guardrails (as in NVIDIA NeMo
//! Guardrails' streaming output rails and Azure AI content filtering's asynchronous/buffered
//! modes), made exact instead of fixed-size: a [`SpanDetector`] says, for the text seen so far,
//! from which byte on the tail could still be (part of) a match that the next characters decide.
//! [`StreamRedactor`] releases everything before that point with the detector's replacements
//! applied, and holds the rest. Ordinary prose is released as soon as a word ends.
//!
//! Invariant (tested with seeded random chunkings): for any text whose candidates are shorter
//! than [`SpanDetector::max_span_len`], the concatenation of every [`Redacted::text`] from
//! [`StreamRedactor::push`] and [`StreamRedactor::finish`] equals [`redact_all`] of the whole
//! text, and no emitted prefix contains a character of a match.
//!
//! Limit: the held text never exceeds `max_span_len()` bytes. When a never-ending candidate
//! (say a 400-character run of e-mail characters) passes that cap, the oldest bytes are released
//! after redacting the complete matches they contain; a match longer than the cap can then leak.
//!
//! Complexity: each push costs O(context + held + chunk) where context ≤ 128 bytes.

use std::sync::Arc;

/// Released text kept in front of the held text, for the detectors' boundary rules (a match may
/// not continue a longer alphanumeric run or dotted number). Released text never ends inside a
/// candidate, so no match can start in it; 128 bytes cover every boundary rule (the longest is an
/// e-mail local part: 64 bytes, RFC 5321) and keep each push cheap (the detectors rescan context +
/// held + chunk).
const LEFT_CONTEXT_BYTES: usize = 128;

/// A detected match: byte offsets into the text given to [`SpanDetector::find`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of the first byte of the match (a char boundary).
    pub start: usize,
    /// Byte offset one past the last byte of the match (a char boundary).
    pub end: usize,
    /// What was found (`"email"`, `"sensitive_word"` …), for metrics and filter actions.
    pub kind: &'static str,
    /// The text that replaces the match in redacted output.
    pub replacement: String,
}

/// A detector usable on streamed text.
pub trait SpanDetector: Send + Sync {
    /// Every match in `text`: non-overlapping, sorted by start.
    fn find(&self, text: &str) -> Vec<Span>;
    /// The earliest char boundary `i` such that `text[i..]` could still be the beginning or part
    /// of a match whose extent depends on text not seen yet; `text.len()` when nothing must wait.
    fn hold_from(&self, text: &str) -> usize;
    /// The longest match this detector can report, in bytes; bounds the hold-back buffer.
    fn max_span_len(&self) -> usize;
}

/// Text that is safe to send now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redacted {
    /// The released text with replacements applied.
    pub text: String,
    /// The replacements inside `text`, in order.
    pub spans: Vec<RedactedSpan>,
}

/// One replacement inside a [`Redacted::text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedSpan {
    /// The detector's kind of the match.
    pub kind: &'static str,
    /// Byte offset in [`Redacted::text`] where the replacement starts (a filter that stops the
    /// generation cuts the text here).
    pub output_start: usize,
}

/// Applies `spans` (sorted, non-overlapping, offsets into `text`) to `text`.
pub fn apply_spans(text: &str, spans: &[Span]) -> Redacted {
    let mut out = Redacted { text: String::with_capacity(text.len()), spans: Vec::with_capacity(spans.len()) };
    let mut at = 0;
    for span in spans {
        if span.start < at || span.end > text.len() || span.start > span.end {
            continue;
        }
        out.text.push_str(text.get(at..span.start).unwrap_or_default());
        out.spans.push(RedactedSpan { kind: span.kind, output_start: out.text.len() });
        out.text.push_str(&span.replacement);
        at = span.end;
    }
    out.text.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Non-streamed redaction of a whole text: what a [`StreamRedactor`] emits in total.
pub fn redact_all(detector: &dyn SpanDetector, text: &str) -> Redacted {
    apply_spans(text, &detector.find(text))
}

/// Redacts a stream of chunks, holding back only what a match could still start in.
pub struct StreamRedactor {
    detector: Arc<dyn SpanDetector>,
    /// Raw text: a tail of already released text (left context for boundary rules) followed by
    /// the held text.
    window: String,
    /// Byte offset in `window` where the held (not yet released) text starts.
    released: usize,
    /// Replacement owed for the rest of a match that straddled a forced release at the cap:
    /// the held part of such a match is swallowed, not emitted raw.
    swallow_until: usize,
}

impl StreamRedactor {
    pub fn new(detector: Arc<dyn SpanDetector>) -> StreamRedactor {
        StreamRedactor { detector, window: String::new(), released: 0, swallow_until: 0 }
    }

    /// Bytes received but not yet released.
    pub fn held_len(&self) -> usize {
        self.window.len() - self.released
    }

    /// Adds `chunk`; returns what can be released now.
    pub fn push(&mut self, chunk: &str) -> Redacted {
        self.window.push_str(chunk);
        let spans = self.detector.find(&self.window);
        let mut cut = self.detector.hold_from(&self.window).clamp(self.released, self.window.len());
        cut = floor_char_boundary(&self.window, cut);
        // A match must not be cut in two: hold it whole.
        for span in spans.iter().rev() {
            if span.start < cut && cut < span.end && span.start >= self.released {
                cut = span.start;
            }
        }
        let cap = self.detector.max_span_len().max(1);
        if self.window.len() - cut > cap {
            cut = floor_char_boundary(&self.window, self.window.len() - cap).max(self.released);
            // Release complete matches whole rather than cutting them.
            if let Some(span) = spans.iter().find(|s| s.start < cut && cut < s.end) {
                cut = span.end;
            }
        }
        self.release(&spans, cut)
    }

    /// Releases everything still held, redacted.
    pub fn finish(&mut self) -> Redacted {
        let spans = self.detector.find(&self.window);
        let end = self.window.len();
        self.release(&spans, end)
    }

    /// Emits `window[released..cut]` with the spans inside it replaced, then trims the window.
    fn release(&mut self, spans: &[Span], cut: usize) -> Redacted {
        let mut out = Redacted::default();
        let mut at = self.released;
        if self.swallow_until > at {
            at = self.swallow_until.min(cut);
        }
        for span in spans {
            if span.end <= at || span.start >= cut {
                continue;
            }
            let start = span.start.max(at);
            out.text.push_str(self.window.get(at..start).unwrap_or_default());
            out.spans.push(RedactedSpan { kind: span.kind, output_start: out.text.len() });
            out.text.push_str(&span.replacement);
            at = span.end;
        }
        if at < cut {
            out.text.push_str(self.window.get(at..cut).unwrap_or_default());
            at = cut;
        }
        // `at` may pass `cut` when a match straddles the cut (only after a forced release).
        let swallow = at.max(cut);
        let context = LEFT_CONTEXT_BYTES.min(self.detector.max_span_len().max(1));
        let keep_from = floor_char_boundary(&self.window, cut.saturating_sub(context));
        self.window.drain(..keep_from);
        self.released = cut - keep_from;
        self.swallow_until = swallow - keep_from;
        out
    }
}

/// Moves `hold` back before every candidate `(start, end)` that straddles it, until none does.
/// Detectors that resolve overlapping candidates use it: a candidate that straddles the hold
/// point may still be displaced (or stop displacing another) once more text arrives.
pub fn hold_before_straddling(mut hold: usize, candidates: &[(usize, usize)]) -> usize {
    loop {
        let earlier = candidates.iter().filter(|&&(start, end)| start < hold && hold < end).map(|&(start, _)| start).min();
        match earlier {
            Some(start) => hold = start,
            None => return hold,
        }
    }
}

/// The largest char boundary ≤ `at` (at most `text.len()`).
pub(crate) fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Streams `text` in random chunks and checks the invariants against [`redact_all`].
    pub(crate) fn check_stream(detector: Arc<dyn SpanDetector>, text: &str, rng: &mut impl Rng) {
        let expected = redact_all(detector.as_ref(), text);
        let whole_spans = detector.find(text);
        let mut redactor = StreamRedactor::new(Arc::clone(&detector));
        let mut emitted = String::new();
        let mut spans = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut take = rng.gen_range(1..=8).min(rest.len());
            while !rest.is_char_boundary(take) {
                take += 1;
            }
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            let out = redactor.push(chunk);
            append(&mut emitted, &mut spans, out);
            // Nothing released may reach into a match of the whole text that is not complete
            // in what was received so far.
            assert_no_leak(text, &whole_spans, &emitted);
        }
        append(&mut emitted, &mut spans, redactor.finish());
        assert_eq!(emitted, expected.text, "stream output differs for {text:?}");
        assert_eq!(spans, expected.spans, "span offsets differ for {text:?}");
        assert_eq!(redactor.held_len(), 0);
    }

    fn append(emitted: &mut String, spans: &mut Vec<RedactedSpan>, out: Redacted) {
        let base = emitted.len();
        spans.extend(out.spans.into_iter().map(|s| RedactedSpan { kind: s.kind, output_start: base + s.output_start }));
        emitted.push_str(&out.text);
    }

    /// The emitted text must be a prefix of the final redaction; a prefix of the final
    /// redaction never contains raw match text.
    fn assert_no_leak(text: &str, whole: &[Span], emitted: &str) {
        let full = apply_spans(text, whole);
        assert!(full.text.starts_with(emitted), "emitted {emitted:?} is not a prefix of {:?}", full.text);
    }

    /// A toy detector: matches "secret" followed by a non-letter; holds a trailing prefix.
    struct Toy;
    impl SpanDetector for Toy {
        fn find(&self, text: &str) -> Vec<Span> {
            text.match_indices("secret")
                .filter(|(at, _)| !text[at + 6..].starts_with(|c: char| c.is_alphabetic()))
                .map(|(at, _)| Span { start: at, end: at + 6, kind: "toy", replacement: "[X]".into() })
                .collect()
        }
        fn hold_from(&self, text: &str) -> usize {
            (0..text.len())
                .filter(|&i| text.is_char_boundary(i))
                .find(|&i| "secret".starts_with(&text[i..]))
                .unwrap_or(text.len())
        }
        fn max_span_len(&self) -> usize {
            16
        }
    }

    #[test]
    fn holds_only_a_viable_prefix() {
        let mut r = StreamRedactor::new(Arc::new(Toy));
        assert_eq!(r.push("my sec").text, "my ");
        assert_eq!(r.held_len(), 3);
        let out = r.push("ret is out");
        assert_eq!(out.text, "[X] is out");
        assert_eq!(out.spans, vec![RedactedSpan { kind: "toy", output_start: 0 }]);
        assert_eq!(r.finish().text, "");
    }

    #[test]
    fn toy_random_chunkings_match_whole_redaction() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..300 {
            let words = ["secret", "secrets", "sec", "ret", " ", "x", "é", "秘密", "s"];
            let text: String = (0..rng.gen_range(0..20)).map(|_| words[rng.gen_range(0..words.len())]).collect();
            check_stream(Arc::new(Toy), &text, &mut rng);
        }
    }

    #[test]
    fn cap_releases_old_text() {
        struct HoldAll;
        impl SpanDetector for HoldAll {
            fn find(&self, _: &str) -> Vec<Span> {
                Vec::new()
            }
            fn hold_from(&self, _: &str) -> usize {
                0
            }
            fn max_span_len(&self) -> usize {
                8
            }
        }
        let mut r = StreamRedactor::new(Arc::new(HoldAll));
        let mut out = String::new();
        for _ in 0..10 {
            out.push_str(&r.push("abcdé").text);
            assert!(r.held_len() <= 8);
        }
        out.push_str(&r.finish().text);
        assert_eq!(out, "abcdé".repeat(10));
    }
}

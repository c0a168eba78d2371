//! Stop strings on a streamed text: find the first occurrence of any stop string across token
//! boundaries, never emit text that might turn out to be the start of one, and never emit the stop
//! string itself (OpenAI semantics; vLLM's `include_stop_str_in_output = false`).
//!
//! The engine feeds each request's incrementally detokenized text through one
//! [`StopStringMatcher`]. Text that could still grow into a stop string (a suffix that is a proper
//! prefix of a stop string) is held back until the next piece decides it; at the end of the request
//! [`StopStringMatcher::finish`] releases what is left. Because everything emitted earlier was checked
//! with that hold-back, a match can only start inside the pending text, so each `push` costs
//! O(pending · stops), with pending bounded by the longest stop string plus the new piece.

/// Result of feeding one piece of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopCheck {
    /// No stop string yet; `emit` is safe to send (possibly empty while text is held back).
    Continue { emit: String },
    /// A stop string matched: `emit` is the text before it; the request must stop. `stop` is the
    /// stop string that matched.
    Stopped { emit: String, stop: String },
}

/// Per-request stop-string state.
#[derive(Clone, Debug, Default)]
pub struct StopStringMatcher {
    stops: Vec<String>,
    /// Text received but not yet emitted (could be the start of a stop string).
    pending: String,
    /// Set once a stop string matched; later pushes emit nothing.
    stopped: bool,
}

impl StopStringMatcher {
    /// A matcher for `stops` (empty strings are ignored; the API layer rejects them).
    pub fn new(stops: &[String]) -> Self {
        StopStringMatcher { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), ..Default::default() }
    }

    /// Whether there is anything to match (callers can skip the matcher otherwise).
    pub fn is_active(&self) -> bool {
        !self.stops.is_empty()
    }

    /// Feeds the next piece of text.
    pub fn push(&mut self, text: &str) -> StopCheck {
        if self.stopped {
            return StopCheck::Continue { emit: String::new() };
        }
        self.pending.push_str(text);
        let earliest = self
            .stops
            .iter()
            .filter_map(|stop| self.pending.find(stop.as_str()).map(|at| (at, stop)))
            .min_by_key(|&(at, stop)| (at, std::cmp::Reverse(stop.len())));
        if let Some((at, stop)) = earliest {
            let stop = stop.clone();
            let emit = self.pending[..at].to_string();
            self.pending.clear();
            self.stopped = true;
            return StopCheck::Stopped { emit, stop };
        }
        let hold = self.held_back_len();
        let cut = self.pending.len() - hold;
        let emit = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        StopCheck::Continue { emit }
    }

    /// Releases the held-back text at the end of the request (nothing after a stop).
    pub fn finish(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        std::mem::take(&mut self.pending)
    }

    /// Length in bytes of the longest suffix of `pending` that is a proper prefix of a stop string.
    fn held_back_len(&self) -> usize {
        let mut best = 0;
        for stop in &self.stops {
            let max = (stop.len() - 1).min(self.pending.len());
            for len in (best + 1..=max).rev() {
                let start = self.pending.len() - len;
                if self.pending.is_char_boundary(start) && stop.starts_with(&self.pending[start..]) {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, Option<String>) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopStringMatcher::new(&stops);
        let mut out = String::new();
        for p in pieces {
            match m.push(p) {
                StopCheck::Continue { emit } => out.push_str(&emit),
                StopCheck::Stopped { emit, stop } => {
                    out.push_str(&emit);
                    return (out, Some(stop));
                }
            }
        }
        out.push_str(&m.finish());
        (out, None)
    }

    #[test]
    fn stop_split_across_pieces_is_found_and_not_emitted() {
        assert_eq!(run(&["###"], &["Hello #", "#", "# world"]), ("Hello ".into(), Some("###".into())));
        assert_eq!(run(&["END"], &["abcE", "N", "D tail"]), ("abc".into(), Some("END".into())));
    }

    #[test]
    fn held_back_text_is_released_when_it_cannot_match() {
        let stops = vec!["###".to_string()];
        let mut m = StopStringMatcher::new(&stops);
        assert_eq!(m.push("a ##"), StopCheck::Continue { emit: "a ".into() });
        assert_eq!(m.push("x"), StopCheck::Continue { emit: "##x".into() });
        assert_eq!(run(&["###"], &["tail #"]), ("tail #".into(), None));
    }

    #[test]
    fn earliest_of_several_stops_wins_and_unicode_is_respected() {
        assert_eq!(run(&["b", "abc"], &["xxabc"]), ("xx".into(), Some("abc".into())));
        assert_eq!(run(&["。", "\n\n"], &["你好", "。再见"]), ("你好".into(), Some("。".into())));
        assert_eq!(run(&["é!"], &["café", " ok"]), ("café ok".into(), None));
    }

    #[test]
    fn matches_any_split_of_the_text() {
        let text = "one two ##STOP## three";
        for cut1 in 0..=text.len() {
            for cut2 in cut1..=text.len() {
                let pieces = [&text[..cut1], &text[cut1..cut2], &text[cut2..]];
                assert_eq!(run(&["##STOP##"], &pieces), ("one two ".into(), Some("##STOP##".into())), "{pieces:?}");
            }
        }
    }
}

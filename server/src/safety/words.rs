//! Operator-supplied sensitive-word lists, matched case-insensitively in one Aho-Corasick pass.
//!
//! Words in scripts that separate words with spaces (Latin, Cyrillic, Greek, Hangul …) match only
//! as whole words at their alphanumeric edges ("ass" does not match "class"); words in scripts
//! written without spaces (Han, kana, Thai, Lao, Khmer, Myanmar) match as substrings, as Chinese
//! keyword filters do. A match is replaced by `***` (fixed, so the length of the word does not
//! leak). Case folding is Unicode lowercase; no other normalization (full-width forms, homoglyphs)
//! is applied, so a list should contain the variants it cares about.
//!
//! List files: UTF-8, one entry per line, whole-line `#` comments and blank lines ignored,
//! surrounding whitespace trimmed. Follows the usual layout of keyword-filter lists (e.g. the
//! `sensitive-words` lists used with DFA filters in Chinese content moderation).
//!
//! Matching is leftmost-longest among the matches that satisfy the boundary rules (found with an
//! overlapping Aho-Corasick search, so that "bad guyz" can still match "bad" when "bad guy" fails
//! its boundary). Complexity: O(n + matches) per text.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::holdback::{hold_before_straddling, Span, SpanDetector};

/// The replacement of every match.
pub const WORD_REPLACEMENT: &str = "***";
/// The [`Span::kind`] of every match.
pub const WORD_KIND: &str = "sensitive_word";
/// Longest accepted entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 256;

/// Why one entry of a list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry {0:?} has no letter or digit")]
    NoAlphanumeric(String),
    #[error("entry contains the control character U+{0:04X}")]
    ControlCharacter(u32),
    #[error("entry is {len} bytes long; the limit is {max}")]
    TooLong { len: usize, max: usize },
}

/// A word list that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WordsError {
    #[error("cannot read word list {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("word list {} is not UTF-8 text (first bad byte at offset {offset})", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{}:{line}: {reason}", path.display())]
    BadLine { path: PathBuf, line: usize, reason: EntryError },
    #[error("word list entry #{index}: {reason}")]
    BadEntry { index: usize, reason: EntryError },
    #[error("cannot build the word matcher: {0}")]
    Build(#[from] aho_corasick::BuildError),
}

/// Boundary needs of one pattern, indexed by Aho-Corasick pattern id.
#[derive(Debug, Clone, Copy)]
struct Edges {
    left: bool,
    right: bool,
}

/// A compiled sensitive-word list.
#[derive(Debug, Clone)]
pub struct SensitiveWords {
    /// Lowercased entries, overlapping (standard) semantics.
    automaton: AhoCorasick,
    /// Per pattern id: which edges need a word boundary.
    edges: Vec<Edges>,
    /// Lowercased entries, sorted and deduplicated: prefix queries for [`SpanDetector::hold_from`].
    sorted: Vec<String>,
    /// Longest lowercased entry in bytes.
    max_word_bytes: usize,
}

/// Scripts written without spaces between words: substring matching.
fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x3040..=0x30FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
}

/// Characters that continue a word in a spaced script.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_unspaced_script(c)
}

fn check_entry(entry: &str) -> Result<(), EntryError> {
    if let Some(c) = entry.chars().find(|c| c.is_control()) {
        return Err(EntryError::ControlCharacter(c as u32));
    }
    if entry.len() > MAX_ENTRY_BYTES {
        return Err(EntryError::TooLong { len: entry.len(), max: MAX_ENTRY_BYTES });
    }
    if !entry.chars().any(char::is_alphanumeric) {
        return Err(EntryError::NoAlphanumeric(entry.to_string()));
    }
    Ok(())
}

/// Lowercases `text`; when that changes byte offsets, also returns, for each lowered byte, the
/// original byte offset of the character it came from (plus one entry for the end).
fn lowered(text: &str) -> (Cow<'_, str>, Option<Vec<usize>>) {
    if text.is_ascii() {
        return (Cow::Borrowed(text), None);
    }
    // Fast path (CJK, most accented text): ASCII is left to the automaton's ASCII case folding and
    // every other character lowers to one character of the same UTF-8 length, so offsets agree.
    let mut same = String::with_capacity(text.len());
    let mut offsets_agree = true;
    for c in text.chars() {
        if c.is_ascii() {
            same.push(c);
            continue;
        }
        let mut lower = c.to_lowercase();
        match (lower.next(), lower.next()) {
            (Some(l), None) if l.len_utf8() == c.len_utf8() => same.push(l),
            _ => {
                offsets_agree = false;
                break;
            }
        }
    }
    if offsets_agree {
        return (Cow::Owned(same), None);
    }
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len() + 1);
    for (at, c) in text.char_indices() {
        let before = out.len();
        out.extend(c.to_lowercase());
        origin.extend(std::iter::repeat_n(at, out.len() - before));
    }
    origin.push(text.len());
    (Cow::Owned(out), Some(origin))
}

impl SensitiveWords {
    /// Compiles `words`; blank entries are skipped, invalid ones rejected.
    pub fn from_lists(words: impl IntoIterator<Item = String>) -> Result<SensitiveWords, WordsError> {
        let mut entries = Vec::new();
        for (index, word) in words.into_iter().enumerate() {
            let word = word.trim();
            if word.is_empty() {
                continue;
            }
            check_entry(word).map_err(|reason| WordsError::BadEntry { index, reason })?;
            entries.push(word.to_string());
        }
        SensitiveWords::build(entries)
    }

    /// Loads and compiles list files (format in the module documentation).
    pub fn from_files(paths: &[PathBuf]) -> Result<SensitiveWords, WordsError> {
        let mut entries = Vec::new();
        for path in paths {
            read_list(path, &mut entries)?;
        }
        SensitiveWords::build(entries)
    }

    fn build(entries: Vec<String>) -> Result<SensitiveWords, WordsError> {
        let mut lowered: Vec<String> = entries.iter().map(|w| w.to_lowercase()).collect();
        lowered.sort();
        lowered.dedup();
        let edges = lowered
            .iter()
            .map(|w| Edges {
                left: w.chars().next().is_some_and(is_word_char),
                right: w.chars().next_back().is_some_and(is_word_char),
            })
            .collect();
        let automaton = AhoCorasickBuilder::new().match_kind(MatchKind::Standard).ascii_case_insensitive(true).build(&lowered)?;
        let max_word_bytes = lowered.iter().map(String::len).max().unwrap_or(0);
        Ok(SensitiveWords { automaton, edges, sorted: lowered, max_word_bytes })
    }

    /// Number of distinct (lowercased) entries.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Matches: leftmost-longest among boundary-respecting matches, non-overlapping, by start.
    pub fn find(&self, text: &str) -> Vec<Span> {
        let mut spans: Vec<Span> = Vec::new();
        for (start, end) in self.candidates(text) {
            if spans.last().is_some_and(|s| start < s.end) {
                continue;
            }
            spans.push(Span { start, end, kind: WORD_KIND, replacement: WORD_REPLACEMENT.to_string() });
        }
        spans
    }

    /// Boundary-respecting matches, overlapping, sorted by start then longest first.
    fn candidates(&self, text: &str) -> Vec<(usize, usize)> {
        if self.sorted.is_empty() {
            return Vec::new();
        }
        let (haystack, origin) = lowered(text);
        let to_original = |at: usize| origin.as_ref().map_or(at, |o| o.get(at).copied().unwrap_or(text.len()));
        let mut candidates: Vec<(usize, usize)> = self
            .automaton
            .find_overlapping_iter(haystack.as_ref())
            .filter_map(|m| {
                let (start, end) = (to_original(m.start()), to_original(m.end()));
                let edges = self.edges.get(m.pattern().as_usize())?;
                let left_ok = !edges.left || !text[..start].chars().next_back().is_some_and(is_word_char);
                let right_ok = !edges.right || !text[end..].chars().next().is_some_and(is_word_char);
                (left_ok && right_ok && start < end).then_some((start, end))
            })
            .collect();
        candidates.sort_by_key(|&(start, end)| (start, std::cmp::Reverse(end)));
        candidates
    }

    /// Whether `lowered` could still grow into, or be cut short of, a match.
    fn viable_prefix(&self, lowered: &str) -> bool {
        let at = self.sorted.partition_point(|w| w.as_str() < lowered);
        let Some(first) = self.sorted.get(at) else { return false };
        if !first.starts_with(lowered) {
            return false;
        }
        if first != lowered {
            return true;
        }
        // A complete entry: settled only when no right boundary is needed and no longer entry
        // extends it.
        let needs_right = lowered.chars().next_back().is_some_and(is_word_char);
        needs_right || self.sorted.get(at + 1).is_some_and(|w| w.starts_with(lowered))
    }
}

fn read_list(path: &Path, entries: &mut Vec<String>) -> Result<(), WordsError> {
    let bytes = std::fs::read(path).map_err(|source| WordsError::Io { path: path.to_path_buf(), source })?;
    let text = String::from_utf8(bytes)
        .map_err(|e| WordsError::NotUtf8 { path: path.to_path_buf(), offset: e.utf8_error().valid_up_to() })?;
    for (index, line) in text.lines().enumerate() {
        let entry = line.trim().trim_start_matches('\u{FEFF}');
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        check_entry(entry).map_err(|reason| WordsError::BadLine { path: path.to_path_buf(), line: index + 1, reason })?;
        entries.push(entry.to_string());
    }
    Ok(())
}

impl SpanDetector for SensitiveWords {
    fn find(&self, text: &str) -> Vec<Span> {
        SensitiveWords::find(self, text)
    }

    fn hold_from(&self, text: &str) -> usize {
        if self.sorted.is_empty() {
            return text.len();
        }
        // Walk tails from the shortest; remember the longest viable one.
        let mut hold = text.len();
        let mut tail = String::new();
        for (at, c) in text.char_indices().rev() {
            let mut lowered_char: String = c.to_lowercase().collect();
            lowered_char.push_str(&tail);
            tail = lowered_char;
            if tail.len() > self.max_word_bytes {
                break;
            }
            let glued = is_word_char(c) && text[..at].chars().next_back().is_some_and(is_word_char);
            if !glued && self.viable_prefix(&tail) {
                hold = at;
            }
        }
        hold_before_straddling(hold, &self.candidates(text))
    }

    fn max_span_len(&self) -> usize {
        // Lowercasing can shrink a character to a third of its bytes (KELVIN SIGN → k).
        self.max_word_bytes * 3 + 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::holdback::tests::check_stream;
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;

    fn words(list: &[&str]) -> SensitiveWords {
        SensitiveWords::from_lists(list.iter().map(|w| w.to_string())).expect("valid list")
    }

    fn redact(w: &SensitiveWords, text: &str) -> String {
        crate::safety::holdback::redact_all(w, text).text
    }

    #[test]
    fn whole_words_in_spaced_scripts() {
        let w = words(&["ass", "Bad Word", "плохо"]);
        assert_eq!(redact(&w, "first class, you ASS. bad word! badwords"), "first class, you ***. ***! badwords");
        assert_eq!(redact(&w, "Плохо, неплохо"), "***, неплохо");
    }

    #[test]
    fn substrings_in_cjk() {
        let w = words(&["坏蛋", "ばか"]);
        assert_eq!(redact(&w, "你这个坏蛋们，ばかやろう"), "你这个***们，***やろう");
        let w = words(&["bad"]);
        assert_eq!(redact(&w, "这是bad词"), "这是***词");
    }

    #[test]
    fn longest_boundary_respecting_match_wins() {
        let w = words(&["bad", "bad guy"]);
        assert_eq!(redact(&w, "a bad guy"), "a ***");
        assert_eq!(redact(&w, "a bad guyz"), "a *** guyz");
    }

    #[test]
    fn case_folding_changes_lengths_safely() {
        let w = words(&["straße", "i̇stanbul"]);
        assert_eq!(redact(&w, "STRASSE Straße İSTANBUL"), "STRASSE *** ***");
        let w = words(&["k"]);
        assert_eq!(redact(&w, "\u{212A} x"), "*** x");
    }

    #[test]
    fn rejects_bad_entries() {
        assert!(matches!(
            SensitiveWords::from_lists(vec!["ok".into(), "!!!".into()]),
            Err(WordsError::BadEntry { index: 1, reason: EntryError::NoAlphanumeric(_) })
        ));
        assert!(matches!(SensitiveWords::from_lists(vec!["a\u{7}b".into()]), Err(WordsError::BadEntry { .. })));
        assert!(SensitiveWords::from_lists(vec!["  ".into()]).is_ok_and(|w| w.is_empty()));
    }

    #[test]
    fn loads_files_and_names_bad_lines() {
        let dir = std::env::temp_dir().join(format!("llmserve-words-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("good.txt");
        std::fs::write(&good, "# comment\n\nfoo\n  Bar  \n坏蛋\n").expect("write");
        let w = SensitiveWords::from_files(std::slice::from_ref(&good)).expect("loads");
        assert_eq!(w.len(), 3);
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "ok\n---\n").expect("write");
        let err = SensitiveWords::from_files(&[good.clone(), bad.clone()]).expect_err("bad line");
        assert!(err.to_string().contains("bad.txt:2"), "{err}");
        let binary = dir.join("binary.txt");
        std::fs::write(&binary, b"ok\n\xff\xfe\n").expect("write");
        assert!(matches!(SensitiveWords::from_files(&[binary]), Err(WordsError::NotUtf8 { offset: 3, .. })));
        assert!(matches!(SensitiveWords::from_files(&[dir.join("missing.txt")]), Err(WordsError::Io { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn example_lists_load() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("safety/words");
        let w = SensitiveWords::from_files(&[root.join("example-en.txt"), root.join("example-zh.txt")]).expect("examples load");
        assert!(!w.is_empty());
    }

    #[test]
    fn holds_partial_and_unbounded_words() {
        let w = words(&["badword", "坏蛋", "坏"]);
        assert_eq!(w.hold_from("this is bad"), 8);
        assert_eq!(w.hold_from("this is badword"), 8);
        assert_eq!(w.hold_from("this is badword "), 16);
        assert_eq!(w.hold_from("class"), 5);
        assert_eq!(w.hold_from("abad"), 4);
        assert_eq!(w.hold_from("你是坏"), "你是".len());
        let w = words(&["坏蛋"]);
        assert_eq!(w.hold_from("你是坏蛋"), "你是坏蛋".len());
    }

    #[test]
    fn streaming_matches_whole_text_redaction() {
        let w: Arc<dyn SpanDetector> = Arc::new(words(&["bad", "bad guy", "ass", "坏蛋", "坏", "straße"]));
        let pieces = ["bad", " guy", "guy", "class", "ass", "坏", "蛋", "你", " ", ".", "STRASSE", "Straße", "x", "é"];
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..1500 {
            let text: String = (0..rng.gen_range(0..14)).map(|_| pieces[rng.gen_range(0..pieces.len())]).collect();
            check_stream(Arc::clone(&w), &text, &mut rng);
        }
    }
}

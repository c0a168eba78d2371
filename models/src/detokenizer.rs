//! Streaming detokenization: generated token ids → text deltas, one token at a time.
//!
//! A byte-level BPE token is a run of bytes, not of characters: `🎉` (4 bytes) can arrive as four tokens,
//! `é` as two. The detokenizer appends each token's bytes ([`Tokenizer::piece`]) to a small buffer and
//! emits the longest valid UTF-8 prefix; an incomplete character at the end waits for the next token, so
//! a delta never holds U+FFFD for a character that was merely split. A byte sequence that can never become
//! valid is replaced by U+FFFD exactly where `String::from_utf8_lossy` on the whole output would put one,
//! so the concatenated deltas equal [`Tokenizer::decode`] of the same ids. [`IncrementalDetokenizer::finish`]
//! flushes an incomplete tail as U+FFFD.
//!
//! Reference: HF `tokenizers`' `DecodeStream` and vLLM's incremental detokenizer solve the same problem by
//! re-decoding a window of ids; working on bytes makes each step O(token length) instead.

use crate::tokenizer::Tokenizer;

/// Turns a growing list of token ids into text deltas.
#[derive(Debug, Clone)]
pub struct IncrementalDetokenizer {
    /// Leave special (control) tokens such as `<|im_end|>` out of the text (the default).
    skip_special: bool,
    /// Bytes of a UTF-8 character whose end has not arrived yet (at most 3 between calls).
    pending: Vec<u8>,
    /// No token has reached the text yet: SentencePiece-style decoders drop the first leading space.
    at_start: bool,
}

impl Default for IncrementalDetokenizer {
    fn default() -> Self {
        IncrementalDetokenizer::new(true)
    }
}

impl IncrementalDetokenizer {
    /// A detokenizer for a new sequence; `skip_special` hides control tokens.
    pub fn new(skip_special: bool) -> IncrementalDetokenizer {
        IncrementalDetokenizer { skip_special, pending: Vec::with_capacity(8), at_start: true }
    }

    /// Text completed by token `id` (possibly empty while a character is incomplete).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> String {
        if self.skip_special && tok.is_special(id) {
            return String::new();
        }
        if self.at_start {
            self.at_start = false;
            let first = tok.first_piece(id);
            self.pending.extend_from_slice(&first);
        } else {
            self.pending.extend_from_slice(tok.piece(id));
        }
        self.drain_valid()
    }

    /// Text of several tokens at once (e.g. the ids of one engine step).
    pub fn push_all(&mut self, tok: &Tokenizer, ids: &[u32]) -> String {
        let mut out = String::new();
        for &id in ids {
            out.push_str(&self.push(tok, id));
        }
        out
    }

    /// End of the sequence: any held-back bytes of an unfinished character become U+FFFD.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }

    /// Whether bytes are held back waiting for the rest of a character.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Moves every complete character (and U+FFFD for each invalid sequence) out of `pending`, keeping an
    /// incomplete character at the end.
    fn drain_valid(&mut self) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // `valid` is valid UTF-8 up to `valid_up_to` by the contract of `Utf8Error`.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let start = self.pending.len() - keep;
        self.pending.drain(..start);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::test_support::tiny_tokenizer;

    #[test]
    fn split_emoji_bytes_are_held_until_complete() {
        let tok = tiny_tokenizer();
        // "a🎉b": the emoji's 4 bytes arrive as 4 single-byte tokens.
        let ids = tok.encode("a🎉b", false).unwrap();
        assert_eq!(ids.len(), 6, "{ids:?}");
        let mut d = IncrementalDetokenizer::default();
        let deltas: Vec<String> = ids.iter().map(|&id| d.push(&tok, id)).collect();
        assert_eq!(deltas, ["a", "", "", "", "🎉", "b"]);
        assert_eq!(d.finish(), "");
        assert_eq!(deltas.concat(), tok.decode(&ids, true).unwrap());
    }

    #[test]
    fn truncated_character_is_flushed_as_replacement_at_finish() {
        let tok = tiny_tokenizer();
        let ids = tok.encode("x東", false).unwrap(); // 東 = E6 9D B1
        let mut d = IncrementalDetokenizer::default();
        assert_eq!(d.push(&tok, ids[0]), "x");
        assert_eq!(d.push(&tok, ids[1]), "");
        assert_eq!(d.push(&tok, ids[2]), "");
        assert!(d.has_pending());
        assert_eq!(d.finish(), "\u{FFFD}");
        assert!(!d.has_pending());
    }

    #[test]
    fn invalid_bytes_match_lossy_decode() {
        let tok = tiny_tokenizer();
        // A stray continuation byte, then a lead byte interrupted by ASCII, then a valid char.
        let byte_id = |b: u8| tok.token_id(&crate::tokenizer::test_support::byte_token(b)).unwrap();
        let ids = [byte_id(0x80), byte_id(b'a'), byte_id(0xE6), byte_id(b'b'), byte_id(0xC3), byte_id(0xA9)];
        let mut d = IncrementalDetokenizer::default();
        let text: String = ids.iter().map(|&id| d.push(&tok, id)).collect::<String>() + &d.finish();
        assert_eq!(text, "\u{FFFD}a\u{FFFD}bé");
        assert_eq!(text, tok.decode(&ids, true).unwrap());
    }

    #[test]
    fn special_tokens_are_skipped_unless_asked() {
        let tok = tiny_tokenizer();
        let ids = tok.encode("<|im_start|>hi<|im_end|>", true).unwrap();
        let mut hidden = IncrementalDetokenizer::default();
        assert_eq!(hidden.push_all(&tok, &ids), "hi");
        let mut shown = IncrementalDetokenizer::new(false);
        assert_eq!(shown.push_all(&tok, &ids), "<|im_start|>hi<|im_end|>");
        assert_eq!(tok.decode(&ids, false).unwrap(), "<|im_start|>hi<|im_end|>");
    }
}

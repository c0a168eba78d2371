//! The raw bytes behind one token id — what a streaming detokenizer needs, since a token can end in the
//! middle of a UTF-8 character.
//!
//! Follows the Hugging Face `tokenizers` decoders: `ByteLevel` (GPT-2: every char of a token stands for one
//! byte, through GPT-2's `bytes_to_unicode` table; a token with a char outside the table is taken as raw
//! UTF-8, exactly as `ByteLevel::decode_chain` does), and the SentencePiece-style chains (`Replace ▁→' '`,
//! `ByteFallback`, `Fuse`, `Strip(' ', 1, 0)`; or `Metaspace`), where `<0xXX>` tokens are single bytes and
//! the very first decoded token loses its leading space. Any other decoder is asked token by token.
//! O(token length) per token.

use std::sync::OnceLock;

/// How a token's text maps to output bytes, chosen once from the tokenizer's decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PieceDecoder {
    /// GPT-2 byte-level BPE (HF `ByteLevel` decoder; llama.cpp `llama_decode_text`).
    ByteLevel,
    /// SentencePiece-style pieces: `replacement` (`▁`) is a space; with `byte_fallback`, `<0xXX>` is one
    /// byte; `first` says what happens to the first token that reaches the decoder.
    Metaspace { replacement: char, byte_fallback: bool, first: FirstPiece },
    /// Unknown decoder chain: decode each token alone through the HF decoder (correct for decoders that
    /// work token by token; a best effort otherwise).
    Other,
}

/// Treatment of the first decoded token by SentencePiece-style decoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstPiece {
    /// Output as is.
    Keep,
    /// HF `Strip(content=' ', start=1)` after `Fuse`: one leading space of the whole text is removed.
    StripOneSpace,
    /// HF `Metaspace` decoder with a prepend scheme: the first token's `▁` are dropped.
    DropReplacement,
}

impl PieceDecoder {
    /// Recognises the decoder from its serialized HF form (`tokenizer.json` → `"decoder"`).
    pub(crate) fn from_decoder_json(decoder: Option<&serde_json::Value>) -> PieceDecoder {
        let Some(d) = decoder else { return PieceDecoder::Other };
        match d.get("type").and_then(|t| t.as_str()) {
            Some("ByteLevel") => PieceDecoder::ByteLevel,
            Some("Metaspace") => {
                let replacement =
                    d.get("replacement").and_then(|r| r.as_str()).and_then(|r| r.chars().next()).unwrap_or('\u{2581}');
                let never = d.get("prepend_scheme").and_then(|p| p.as_str()) == Some("never")
                    || d.get("add_prefix_space").and_then(|p| p.as_bool()) == Some(false);
                let first = if never { FirstPiece::Keep } else { FirstPiece::DropReplacement };
                PieceDecoder::Metaspace { replacement, byte_fallback: false, first }
            }
            Some("Sequence") => {
                let Some(parts) = d.get("decoders").and_then(|p| p.as_array()) else {
                    return PieceDecoder::Other;
                };
                let mut replacement = None;
                let mut byte_fallback = false;
                let mut first = FirstPiece::Keep;
                for part in parts {
                    match part.get("type").and_then(|t| t.as_str()) {
                        Some("ByteLevel") if parts.len() == 1 => return PieceDecoder::ByteLevel,
                        Some("Replace") => {
                            let pattern = part.pointer("/pattern/String").and_then(|p| p.as_str());
                            let content = part.get("content").and_then(|c| c.as_str());
                            match (pattern.map(|p| p.chars().collect::<Vec<_>>()), content) {
                                (Some(p), Some(" ")) if p.len() == 1 => replacement = Some(p[0]),
                                _ => return PieceDecoder::Other,
                            }
                        }
                        Some("ByteFallback") => byte_fallback = true,
                        Some("Fuse") => {}
                        Some("Strip") => {
                            let content = part.get("content").and_then(|c| c.as_str());
                            let start = part.get("start").and_then(|s| s.as_u64());
                            let stop = part.get("stop").and_then(|s| s.as_u64());
                            match (content, start, stop) {
                                (Some(" "), Some(1), Some(0)) => first = FirstPiece::StripOneSpace,
                                _ => return PieceDecoder::Other,
                            }
                        }
                        _ => return PieceDecoder::Other,
                    }
                }
                match replacement {
                    Some(replacement) => PieceDecoder::Metaspace { replacement, byte_fallback, first },
                    None => PieceDecoder::Other,
                }
            }
            _ => PieceDecoder::Other,
        }
    }

    /// Bytes of one token's text (`None` for [`PieceDecoder::Other`], which needs the HF decoder).
    /// `is_first` says whether this is the first token reaching the decoder.
    pub(crate) fn piece_bytes(&self, token: &str, is_first: bool) -> Option<Vec<u8>> {
        match self {
            PieceDecoder::ByteLevel => Some(byte_level_decode(token)),
            PieceDecoder::Metaspace { replacement, byte_fallback, first } => {
                if *byte_fallback {
                    if let Some(b) = parse_byte_token(token) {
                        return Some(vec![b]);
                    }
                }
                let mut out = String::with_capacity(token.len());
                for c in token.chars() {
                    if c == *replacement {
                        if !(is_first && *first == FirstPiece::DropReplacement) {
                            out.push(' ');
                        }
                    } else {
                        out.push(c);
                    }
                }
                let mut bytes = out.into_bytes();
                if is_first && *first == FirstPiece::StripOneSpace && bytes.first() == Some(&b' ') {
                    bytes.remove(0);
                }
                Some(bytes)
            }
            PieceDecoder::Other => None,
        }
    }
}

/// `<0xAB>` → 0xAB (SentencePiece byte-fallback tokens).
fn parse_byte_token(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// GPT-2's `bytes_to_unicode`: the printable Latin-1 bytes stand for themselves, the other 68 bytes are
/// shifted to U+0100.. in byte order. Returns the inverse, char → byte, for chars below U+0144.
fn char_to_byte_table() -> &'static [Option<u8>; 0x144] {
    static TABLE: OnceLock<[Option<u8>; 0x144]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [None; 0x144];
        let mut shifted = 0usize;
        for b in 0..=255u8 {
            let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
            let c = if printable {
                b as usize
            } else {
                shifted += 1;
                0xFF + shifted
            };
            table[c] = Some(b);
        }
        table
    })
}

/// The byte a GPT-2 byte-level char stands for.
fn byte_of_char(c: char) -> Option<u8> {
    char_to_byte_table().get(c as usize).copied().flatten()
}

/// The char that stands for `b` in GPT-2 byte-level text (inverse of [`byte_of_char`]).
#[cfg(test)]
pub(crate) fn char_of_byte(b: u8) -> char {
    let table = char_to_byte_table();
    let pos = table.iter().position(|&x| x == Some(b)).unwrap_or(b as usize);
    char::from_u32(pos as u32).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Byte-level text → bytes; a token with any char outside the table is its own UTF-8 (as HF does for
/// added tokens such as `<|im_end|>` whose chars are all printable ASCII anyway).
pub(crate) fn byte_level_decode(token: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(token.len());
    for c in token.chars() {
        match byte_of_char(c) {
            Some(b) => out.push(b),
            None => return token.as_bytes().to_vec(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_is_a_bijection() {
        for b in 0..=255u8 {
            assert_eq!(byte_of_char(char_of_byte(b)), Some(b), "byte {b}");
        }
        assert_eq!(char_of_byte(b' '), 'Ġ');
        assert_eq!(char_of_byte(b'\n'), 'Ċ');
        assert_eq!(char_of_byte(b'a'), 'a');
        assert_eq!(byte_level_decode("Ġthe"), b" the");
        // 🎉 = F0 9F 8E 89
        assert_eq!(byte_level_decode("ðŁİī"), "🎉".as_bytes());
        // A char outside the table: the token is raw UTF-8.
        assert_eq!(byte_level_decode("東"), "東".as_bytes());
    }

    #[test]
    fn recognises_sentencepiece_decoder_chain() {
        let llama2: serde_json::Value = serde_json::json!({"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]});
        let d = PieceDecoder::from_decoder_json(Some(&llama2));
        assert_eq!(
            d,
            PieceDecoder::Metaspace { replacement: '▁', byte_fallback: true, first: FirstPiece::StripOneSpace }
        );
        assert_eq!(d.piece_bytes("▁Hello", true).unwrap(), b"Hello");
        assert_eq!(d.piece_bytes("▁world", false).unwrap(), b" world");
        assert_eq!(d.piece_bytes("<0x0A>", false).unwrap(), b"\n");
        let bl = serde_json::json!({"type": "ByteLevel", "add_prefix_space": true});
        assert_eq!(PieceDecoder::from_decoder_json(Some(&bl)), PieceDecoder::ByteLevel);
        assert_eq!(PieceDecoder::from_decoder_json(None), PieceDecoder::Other);
    }
}

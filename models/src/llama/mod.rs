//! The LLaMA architecture on the CPU: weights ([`weights`]), the paged-attention metadata shared with the
//! GPU backend ([`metadata`]), the paged KV cache view ([`kv`]), attention over it ([`attention`]) and
//! the batched forward pass ([`forward`]).
//!
//! Follows llama.cpp's `llm_build_llama` / HF transformers' `LlamaForCausalLM`: pre-norm RMSNorm blocks,
//! RoPE on Q and K (adjacent-pair rotation, the GGUF convention: HF checkpoints are permuted at load),
//! grouped-query attention, SwiGLU MLP, tied or untied output embeddings.

pub mod attention;
pub mod forward;
pub mod kv;
pub mod metadata;
pub mod weights;

pub use forward::{ForwardScratch, LlamaModel, MatmulPrecision};
pub use kv::{KvCacheGeometry, KvCacheView};
pub use metadata::AttentionMetadata;
pub use weights::LlamaWeights;

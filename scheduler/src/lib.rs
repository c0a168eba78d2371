//! Scheduling for llmserve: pure logic, no tensors, no device code.
//!
//! This crate holds the request-level vocabulary shared by the engine and the server
//! ([`ids`], [`sampling_params`]) and paged KV-cache block accounting with prefix caching
//! ([`block_hash`], [`block_pool`], [`kv_cache_manager`]; vLLM v1 `core/` design, see DESIGN.md).
//! The continuous-batching scheduler is built on top of these.

pub mod block_hash;
pub mod block_pool;
pub mod ids;
pub mod kv_cache_manager;
pub mod sampling_params;

pub use block_hash::{hash_block_tokens, hash_request_blocks, BlockHash};
pub use block_pool::{BlockMeta, BlockPool, FreeBlockQueue};
pub use ids::{BlockId, RequestId};
pub use kv_cache_manager::{ComputedBlocks, KvCacheManager};
pub use sampling_params::{SamplingParams, SamplingParamsError};

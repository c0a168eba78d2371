//! Scheduling for llmserve: pure logic, no tensors, no device code.
//!
//! This crate currently holds the request-level vocabulary shared by the engine and the server
//! ([`ids`], [`sampling_params`]). The block pool, KV-cache manager and continuous-batching scheduler
//! (vLLM v1 `core/` design, see DESIGN.md) are built on top of these types.

pub mod ids;
pub mod sampling_params;

pub use ids::{BlockId, RequestId};
pub use sampling_params::{SamplingParams, SamplingParamsError};

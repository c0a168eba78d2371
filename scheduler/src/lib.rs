//! Scheduling for llmserve: pure logic, no tensors, no device code.
//!
//! - Vocabulary shared with the engine and the server: [`ids`], [`sampling_params`], [`request`]
//!   (the scheduler's view of a request), [`output`] (the seams `SchedulerOutput` →
//!   `ModelRunnerOutput` → `RequestOutput`).
//! - Paged KV-cache block accounting with prefix caching: [`block_hash`], [`block_pool`],
//!   [`kv_cache_manager`] (vLLM v1 `core/` design, see DESIGN.md).
//! - The continuous-batching [`scheduler`] with pluggable [`policy`]s, configured by [`config`].
//! - [`stop_strings`]: stop-string matching on the detokenized stream (used by the engine).
//! - [`simulator`]: the real scheduler driven by a virtual clock and a fitted step cost model.

pub mod block_hash;
pub mod block_pool;
pub mod config;
pub mod ids;
pub mod kv_cache_manager;
pub mod output;
pub mod policy;
pub mod request;
pub mod sampling_params;
pub mod scheduler;
pub mod simulator;
pub mod stop_strings;

pub use block_hash::{hash_block_tokens, hash_request_blocks, BlockHash};
pub use block_pool::{BlockMeta, BlockPool, FreeBlockQueue};
pub use config::{SchedulerConfig, SchedulerConfigError};
pub use ids::{BlockId, RequestId};
pub use kv_cache_manager::{ComputedBlocks, KvCacheManager};
pub use output::{CachedRequestData, ModelRunnerOutput, NewRequestData, RequestOutput, SchedulerOutput, TokenLogprob};
pub use policy::{PolicyKind, SchedulingPolicy, UnknownPolicy};
pub use request::{FinishReason, Request, RequestStatus};
pub use sampling_params::{SamplingParams, SamplingParamsError, MAX_LOGPROBS};
pub use scheduler::{AddRequestError, Scheduler, SchedulerStats};
pub use stop_strings::{StopCheck, StopStringMatcher};

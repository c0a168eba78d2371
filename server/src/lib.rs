//! The HTTP front end (OpenAI-compatible routes, auth, rate limits, safety filters, metrics).
//!
//! Skeleton: the crate exists so the workspace has its final shape and dependency direction
//! (`server → engine`). Routes arrive with the server issue, on top of the engine's `EngineHandle`;
//! until then `llmserve generate` is the way to run the default model.

/// Version string reported by the server (`/v1/models`, logs).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

//! Subcommands of the `llmserve` binary, one file each, plus the shared model arguments.

pub mod bench_model;
pub mod export;
pub mod generate;
pub mod model_args;
pub mod pull;

//! Subcommands of the `llmserve` binary, one file each, plus the shared model arguments.

pub mod advise;
pub mod bench;
pub mod bench_model;
#[cfg(feature = "cuda")]
pub mod bench_gpu;
pub mod bench_offline;
pub mod bench_streams;
pub mod calibrate;
pub mod export;
pub mod generate;
pub mod keys;
pub mod log_file;
pub mod model_args;
pub mod pull;
pub mod safety_eval;
pub mod serve;
pub mod simulate;

//! What can go wrong before the advisor computes anything: a missing or doubled throughput source, a
//! flag outside its range (the message names the flag and the range), an unreadable or unusable bench
//! result file.

use crate::result::ResultFileError;

#[derive(Debug, thiserror::Error)]
pub enum AdviseError {
    #[error("give one of --bench-result FILE (a `llmserve bench serve` result) or --throughput-tok-s N (output tokens/s of one deployment); got neither")]
    NoThroughput,
    #[error("give only one of --bench-result FILE or --throughput-tok-s N; got both")]
    BothThroughputs,
    /// A value outside its allowed range.
    #[error("{flag} must be {allowed}, got {got}")]
    OutOfRange { flag: &'static str, allowed: &'static str, got: String },
    #[error("--compliance none cannot be combined with other compliance needs (got {0})")]
    ComplianceNoneCombined(String),
    #[error(transparent)]
    BenchFile(#[from] ResultFileError),
    /// The file parsed but cannot give a capacity (no completed request, zero duration …).
    #[error("{path} cannot give a capacity: {reason}")]
    BenchUnusable { path: String, reason: String },
    #[error("serialising the advice as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

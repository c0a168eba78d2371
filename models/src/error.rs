//! Errors of model loading: every variant names the file and the key or tensor, and says what was expected.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a {expected} file: {reason}")]
    BadFormat { path: PathBuf, expected: String, reason: String },
    #[error("{path}: file is truncated: {what} needs bytes {start}..{end} but the file has {file_len} bytes")]
    Truncated { path: PathBuf, what: String, start: u64, end: u64, file_len: u64 },
    #[error("{path}: unsupported {what}: {found} (supported: {supported})")]
    Unsupported { path: PathBuf, what: String, found: String, supported: String },
    #[error("{path}: metadata key `{key}` is missing (expected {expected})")]
    MissingKey { path: PathBuf, key: String, expected: String },
    #[error("{path}: metadata key `{key}`: {reason}")]
    BadMetadata { path: PathBuf, key: String, reason: String },
    #[error("{path}: tensor `{tensor}` is missing (needed by the {architecture} architecture)")]
    MissingTensor { path: PathBuf, tensor: String, architecture: String },
    #[error("{path}: tensor `{tensor}`: {reason}")]
    BadTensor { path: PathBuf, tensor: String, reason: String },
    #[error("{path}: tokenizer: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("chat template: {reason}")]
    ChatTemplate { reason: String },
    #[error("model config: {reason}")]
    Config { reason: String },
}

impl ModelError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io { path: path.into(), source }
    }
}

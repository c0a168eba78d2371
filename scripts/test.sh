#!/usr/bin/env bash
# The project's test command: fetch the default model if missing (the model tests need it), run every
# test of the workspace, drive the real server with the openai Python SDK and a 200-client load test
# (installs `openai` into .venv-sdk on first use), then compile every CUDA kernel with NVRTC from PyPI wheels (no GPU needed;
# the compile test fails on any compile error or register spill), and checks deploy/'s Prometheus rules with
# promtool (scripts/check-observability.sh). Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --bin llmserve
./target/debug/llmserve pull
cargo test --workspace "$@"
echo "== monitoring: promtool checks and alert unit tests of deploy/prometheus"
scripts/check-observability.sh
echo "== HTTP: the official openai SDK, then 200 concurrent streaming clients, against the real server binary"
PYTHON=$(scripts/install-python-test-deps.sh)
"$PYTHON" tests/python/test_openai_sdk.py target/debug/llmserve
"$PYTHON" tests/python/load_test.py target/debug/llmserve 200 150
echo "== CUDA kernels: NVRTC compile test (installs the NVRTC wheels into .venv-nvrtc on first use)"
eval "$(scripts/install-nvrtc.sh)"
cargo test -p llmserve-kernels --features cuda --test cuda_compile -- --nocapture

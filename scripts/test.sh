#!/usr/bin/env bash
# The project's test command: fetch the default model if missing (the model tests need it), then run
# every test of the workspace. Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --bin llmserve
./target/debug/llmserve pull
cargo test --workspace "$@"

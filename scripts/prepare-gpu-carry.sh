#!/usr/bin/env bash
# Builds everything scripts/gpu-check.sh needs on the GPU machine (which has no Rust toolchain) and
# copies it with stable names into .devcarry/ (gitignored), checking the folder stays under 64 MiB:
#   .devcarry/llmserve       release binary with --features cuda (debug info stripped)
#   .devcarry/cuda_kernels   kernel device tests (kernels/tests/cuda_kernels.rs)
#   .devcarry/cuda_vs_cpu    CUDA vs CPU backend test (engine/tests/cuda_vs_cpu.rs)
#   .devcarry/llama-3-8b.json  config of the synthetic LLaMA-3-8B benchmark
#   .devcarry/tokenizer/     LLaMA-3 tokenizer files, when fetched (scripts/fetch-llama3-tokenizer.sh)
# Usage: scripts/prepare-gpu-carry.sh [out-dir]   (run from anywhere; builds in the repository)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/.devcarry}"
LIMIT=$((64 * 1024 * 1024))
cd "$ROOT"
mkdir -p "$OUT"

echo "== building the release binary with --features cuda"
cargo build --release --features cuda --bin llmserve

# The path of a test executable from cargo's JSON messages.
test_binary() {
  cargo test "$@" --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
exe=None
for line in sys.stdin:
    try: m=json.loads(line)
    except ValueError: continue
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m.get("profile",{}).get("test"):
        exe=m["executable"]
if not exe: sys.exit("no test executable found")
print(exe)'
}

echo "== building the test binaries (--no-run)"
KERNELS_TEST="$(test_binary -p llmserve-kernels --features cuda --test cuda_kernels)"
ENGINE_TEST="$(test_binary -p llmserve-engine --features cuda --test cuda_vs_cpu)"

copy_stripped() {
  cp "$1" "$2"
  chmod u+w "$2"
  if command -v strip >/dev/null; then strip --strip-debug "$2"; fi
}
copy_stripped target/release/llmserve "$OUT/llmserve"
copy_stripped "$KERNELS_TEST" "$OUT/cuda_kernels"
copy_stripped "$ENGINE_TEST" "$OUT/cuda_vs_cpu"
cp models/configs/llama-3-8b.json "$OUT/llama-3-8b.json"

CACHE="${LLMSERVE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmserve}"
if [ -f "$CACHE/tokenizers/llama-3/tokenizer.json" ]; then
  mkdir -p "$OUT/tokenizer"
  cp "$CACHE/tokenizers/llama-3/tokenizer.json" "$CACHE/tokenizers/llama-3/tokenizer_config.json" "$OUT/tokenizer/"
fi

SIZE=$(du -sb "$OUT" | cut -f1)
ls -l "$OUT"
echo "== $OUT: $((SIZE / 1024 / 1024)) MiB"
if [ "$SIZE" -ge "$LIMIT" ]; then
  echo "error: $OUT is $SIZE bytes, over the 64 MiB carry limit" >&2
  exit 1
fi

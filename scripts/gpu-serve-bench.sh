#!/usr/bin/env bash
# The serving benchmark on a GPU machine: `llmserve serve --device cuda` on synthetic LLaMA-3-8B bf16
# (random weights, the LLaMA-3 tokenizer), then `llmserve bench serve` on the synthetic ShareGPT
# workload with every request sent at once — the conditions of vLLM's v0.6.0 anchor (500 prompts,
# rate inf; `benches/anchors.toml`). Weights are random, so with --ignore-eos every request generates
# its drawn output length, as a real model's replies would be on average.
# Expects .devcarry/ from scripts/prepare-gpu-carry.sh (llmserve, llama-3-8b.json, tokenizer/).
# Usage: scripts/gpu-serve-bench.sh OUT_DIR [NUM_PROMPTS]   (result JSON + server log in OUT_DIR)
# Environment: LLMSERVE_CARRY (default .devcarry), SERVE_ARGS (extra `serve` flags), BENCH_TIMEOUT (s, 300).
set -uo pipefail
OUT="${1:?usage: $0 OUT_DIR [NUM_PROMPTS]}"
N="${2:-500}"
CARRY="${LLMSERVE_CARRY:-.devcarry}"
mkdir -p "$OUT"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for f in llmserve llama-3-8b.json tokenizer/tokenizer.json; do
  [ -e "$CARRY/$f" ] || { echo "error: $CARRY/$f is missing (run scripts/prepare-gpu-carry.sh after scripts/fetch-llama3-tokenizer.sh)" >&2; exit 2; }
done
PORT=8700
# shellcheck disable=SC2086
"$CARRY/llmserve" serve --device cuda --model "$CARRY/llama-3-8b.json" --weights random --weights-dtype bf16 \
  --tokenizer "$CARRY/tokenizer" --port $PORT --max-num-seqs 256 --max-num-batched-tokens 4096 \
  --max-in-flight 1024 --max-model-len 4096 --log-format text ${SERVE_ARGS:-} >"$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 1 240); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  kill -0 $SERVER 2>/dev/null || { echo "the server exited:"; tail -20 "$OUT/serve.log"; exit 1; }
  sleep 1
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "the server did not come up in 240 s"; tail -20 "$OUT/serve.log"; exit 1; }
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
timeout "${BENCH_TIMEOUT:-300}" "$CARRY/llmserve" bench serve --base-url "http://127.0.0.1:$PORT" --label llmserve \
  --tokenizer "$CARRY/tokenizer" --dataset synthetic-sharegpt --num-prompts "$N" --request-rate inf \
  --ignore-eos --seed 0 --hardware "1x $GPU" --no-progress --result-json "$OUT/llmserve-cuda-synthetic-sharegpt-$N.json"
rc=$?
grep -iE "error|panic" "$OUT/serve.log" | head -5
exit $rc

#!/usr/bin/env bash
# Every GPU check in one run, on a machine with an NVIDIA GPU and no Rust toolchain. Expects the
# binaries built by scripts/prepare-gpu-carry.sh in $LLMSERVE_CARRY (default .devcarry/):
#   (a) kernel device tests        .devcarry/cuda_kernels --nocapture
#   (b) CUDA vs CPU backend        .devcarry/cuda_vs_cpu --nocapture   (logits ≤ 1e-2 rel., 32 greedy steps)
#   (c) synthetic LLaMA-3-8B bf16  .devcarry/llmserve bench-gpu --weights random --weights-dtype bf16
# Full logs go to the folder given as $1 (default gpu-logs/); a summary table is printed last.
# Exits non-zero when a check fails (a test that SKIPPED on this machine counts as failed).
# Environment: LLMSERVE_CARRY, BENCH_ARGS (extra bench-gpu flags), BENCH_TIMEOUT (seconds, default 420).
set -uo pipefail
LOGS="${1:-gpu-logs}"
CARRY="${LLMSERVE_CARRY:-.devcarry}"
mkdir -p "$LOGS"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RUST_BACKTRACE=1

declare -a NAMES STATUS SECS
FAILED=0

run_check() { # name log command...
  local name="$1" log="$2"; shift 2
  local start end rc
  start=$(date +%s)
  "$@" >"$LOGS/$log" 2>&1
  rc=$?
  end=$(date +%s)
  local st="ok"
  if [ $rc -ne 0 ]; then st="FAILED (rc $rc)"; FAILED=1
  elif grep -q "SKIPPED" "$LOGS/$log"; then st="SKIPPED (counts as failed)"; FAILED=1; fi
  NAMES+=("$name"); STATUS+=("$st"); SECS+=("$((end - start))")
  echo "[$name] $st in $((end - start)) s — log: $LOGS/$log"
}

{ nvidia-smi || echo "nvidia-smi failed"; } >"$LOGS/nvidia-smi.txt" 2>&1
head -20 "$LOGS/nvidia-smi.txt"

for f in cuda_kernels cuda_vs_cpu llmserve llama-3-8b.json; do
  if [ ! -e "$CARRY/$f" ]; then echo "error: $CARRY/$f is missing (run scripts/prepare-gpu-carry.sh)" >&2; exit 2; fi
done

run_check "kernel device tests" kernels.log "$CARRY/cuda_kernels" --nocapture --test-threads=1
run_check "cuda vs cpu backend" cuda_vs_cpu.log "$CARRY/cuda_vs_cpu" --nocapture --test-threads=1
TOK=()
if [ -f "$CARRY/tokenizer/tokenizer.json" ]; then TOK=(--tokenizer "$CARRY/tokenizer"); fi
# shellcheck disable=SC2086
run_check "bench-gpu llama-3-8b" bench-gpu.log timeout "${BENCH_TIMEOUT:-420}" "$CARRY/llmserve" bench-gpu \
  --model "$CARRY/llama-3-8b.json" --weights random --weights-dtype bf16 "${TOK[@]}" ${BENCH_ARGS:-}

echo
echo "== details"
grep -E "test result|FAILED|panicked" "$LOGS/kernels.log" | tail -5
grep -E "relative L2|greedy tokens identical|test result|panicked" "$LOGS/cuda_vs_cpu.log"
echo
echo "== summary"
printf '%-24s %-28s %6s\n' check status seconds
for i in "${!NAMES[@]}"; do printf '%-24s %-28s %6s\n' "${NAMES[$i]}" "${STATUS[$i]}" "${SECS[$i]}"; done
echo
sed -n '/^bench-gpu |/,$p' "$LOGS/bench-gpu.log"
exit $FAILED

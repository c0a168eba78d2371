#!/usr/bin/env bash
# Serving side by side on the CPU: `llmserve serve` and llama.cpp's `llama-server`, same machine, same
# model file, same prompts, same load, interleaved (at every load level both servers run, in alternating
# order, so drift of a noisy machine hits both alike). Each run is `llmserve bench serve` with vLLM's
# metric definitions; the script writes one sweep file per server and renders the report.
#
# Usage: scripts/compare-llamacpp.sh LLAMA_SERVER [OUT_DIR] [CONCURRENCIES] [NUM_PROMPTS]
#   LLAMA_SERVER   a llama-server binary (to build the reference one — llama.cpp 0c1e57098, vendored in
#                  llama-cpp-python 0.3.36; ~10 min on 2 cores, needs cmake + ninja):
#                    python3 -m pip download --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36 -d /tmp/lc
#                    tar xzf /tmp/lc/llama_cpp_python-0.3.36.tar.gz -C /tmp/lc
#                    cd /tmp/lc/llama_cpp_python-0.3.36/vendor/llama.cpp
#                    cmake -B build -G Ninja -DGGML_NATIVE=ON -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF
#                    ninja -C build llama-server
#   OUT_DIR        where results go (default benches/results/cpu); the sweeps are
#                  OUT_DIR/llmserve.sweep.json and OUT_DIR/llama-server.sweep.json
#   CONCURRENCIES  comma-separated caps (default 1,2,4,8); every request is sent at once under the cap
#   NUM_PROMPTS    requests per level (default 24), the synthetic ShareGPT workload, seed 0
# The hardware class in the results is derived from this machine (`cpu-2core-epyc` …), as the servers
# run here too. Environment: MODEL (default: the default model file), THREADS (default 2), DATASET (default
# synthetic-sharegpt), EXTRA_BENCH_ARGS (added to every `bench serve`), NO_REPORT=1 to skip the report.
set -euo pipefail
cd "$(dirname "$0")/.."
llama_server=${1:?usage: $0 LLAMA_SERVER [OUT_DIR] [CONCURRENCIES] [NUM_PROMPTS]}
out=${2:-benches/results/cpu}
concurrencies=${3:-1,2,4,8}
num_prompts=${4:-24}
threads=${THREADS:-2}
dataset=${DATASET:-synthetic-sharegpt}
[ -x target/release/llmserve ] || cargo build --release --bin llmserve
bin=target/release/llmserve
model=${MODEL:-$($bin pull 2>/dev/null | tail -1)}
[ -f "$model" ] || { echo "model file not found: $model"; exit 1; }
max_c=$(tr ',' '\n' <<<"$concurrencies" | sort -n | tail -1)
mkdir -p "$out/runs"
logs=$(mktemp -d)

# Both servers: continuous batching with at least max_c sequences, the same thread count, a 16k-token
# KV cache (llama-server splits -c across its -np slots: 16384 / 8 = 2048 tokens per sequence, enough
# for the workload's prompt + output ≤ 2048).
port_ours=8601
port_cpp=8602
"$bin" serve --model "$model" --port $port_ours --threads "$threads" --max-num-seqs "$max_c" \
  --kv-cache-tokens 16384 --log-format text >"$logs/llmserve.log" 2>&1 &
pid_ours=$!
"$llama_server" -m "$model" --port $port_cpp -t "$threads" -np "$max_c" -c $((2048 * max_c)) \
  >"$logs/llama-server.log" 2>&1 &
pid_cpp=$!
trap 'kill $pid_ours $pid_cpp 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for url in "http://127.0.0.1:$port_ours/health" "http://127.0.0.1:$port_cpp/health"; do
  for _ in $(seq 1 120); do curl -sf "$url" >/dev/null && break; sleep 1; done
  curl -sf "$url" >/dev/null || { echo "server at $url did not come up; logs in $logs"; exit 1; }
done
run() { # label port concurrency
  $bin bench serve --base-url "http://127.0.0.1:$2" --label "$1" \
    --tokenizer "$model" --dataset "$dataset" --num-prompts "$num_prompts" --seed 0 \
    --request-rate inf --max-concurrency "$3" --no-progress \
    --result-json "$out/runs/$1-c$3.json" ${EXTRA_BENCH_ARGS:-} | grep -E "Successful|Failed|Request throughput|Output token|Median TTFT|Median TPOT"
}

i=0
for c in ${concurrencies//,/ }; do
  if (( i % 2 == 0 )); then order="llmserve llama-server"; else order="llama-server llmserve"; fi
  for label in $order; do
    echo "== $label, max concurrency $c"
    if [ "$label" = llmserve ]; then run llmserve $port_ours "$c"; else run llama-server $port_cpp "$c"; fi
  done
  i=$((i + 1))
done

# One sweep file per server (the format of `llmserve bench sweep --result-json`).
python3 - "$out" "$concurrencies" <<'PY'
import json, sys
out, levels = sys.argv[1], [int(c) for c in sys.argv[2].split(",")]
for label in ["llmserve", "llama-server"]:
    points = [{"load": float(c), "result": json.load(open(f"{out}/runs/{label}-c{c}.json"))} for c in levels]
    json.dump({"label": label, "axis": "max_concurrency", "points": points}, open(f"{out}/{label}.sweep.json", "w"), indent=1)
    print(f"wrote {out}/{label}.sweep.json")
PY
rm -rf "$out/runs"
if [ -z "${NO_REPORT:-}" ]; then
  results=()
  for d in benches/results/*/; do results+=(--results "$d"); done
  $bin bench report "${results[@]}" --output BENCHMARKS.md
fi

#!/usr/bin/env bash
# Compare `llmserve bench-model` with llama.cpp's `llama-bench` on the same model file, same threads,
# interleaved (the machines are noisy: only ratios measured side by side mean anything).
#
# Usage: scripts/bench-vs-llamacpp.sh LLAMA_BENCH [MODEL.gguf] [THREADS] [ROUNDS]
#   LLAMA_BENCH  path to a llama-bench binary. To build the reference one (llama.cpp 0c1e57098, the copy
#                vendored in llama-cpp-python 0.3.36; ~7 min on 2 cores, needs cmake + ninja):
#                  python3 -m pip download --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36 -d /tmp/lc
#                  tar xzf /tmp/lc/llama_cpp_python-0.3.36.tar.gz -C /tmp/lc
#                  cd /tmp/lc/llama_cpp_python-0.3.36/vendor/llama.cpp
#                  cmake -B build -G Ninja -DGGML_NATIVE=ON -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF
#                  ninja -C build llama-bench
# Prints one line per round and tool, then the medians and our/llama.cpp ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${1:?usage: $0 LLAMA_BENCH [MODEL.gguf] [THREADS] [ROUNDS]}
model=${2:-$(target/release/llmserve pull 2>/dev/null | tail -1)}
threads=${3:-2}
rounds=${4:-3}
[ -x target/release/llmserve ] || cargo build --release --bin llmserve
out=$(mktemp -d)
for r in $(seq 1 "$rounds"); do
  "$bench" -m "$model" -p 512 -n 128 -r 3 -t "$threads" -o json > "$out/llamacpp-$r.json"
  target/release/llmserve bench-model --model "$model" --prompt-tokens 512 --gen-tokens 128 --runs 3 --threads "$threads" --json > "$out/llmserve-$r.json"
  python3 - "$out" "$r" <<'PY'
import json, sys
d, r = sys.argv[1], sys.argv[2]
cpp = json.load(open(f"{d}/llamacpp-{r}.json"))
pp = next(x["avg_ts"] for x in cpp if x["n_prompt"] > 0)
tg = next(x["avg_ts"] for x in cpp if x["n_gen"] > 0)
ours = json.load(open(f"{d}/llmserve-{r}.json"))
print(f"round {r}: llama.cpp pp512 {pp:7.1f} tg128 {tg:6.1f} | llmserve pp512 {ours['prompt_tok_s']:7.1f} tg128 {ours['decode_tok_s']:6.1f}")
PY
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
pp_c, tg_c, pp_o, tg_o = [], [], [], []
for r in range(1, n + 1):
    cpp = json.load(open(f"{d}/llamacpp-{r}.json"))
    pp_c.append(next(x["avg_ts"] for x in cpp if x["n_prompt"] > 0))
    tg_c.append(next(x["avg_ts"] for x in cpp if x["n_gen"] > 0))
    o = json.load(open(f"{d}/llmserve-{r}.json"))
    pp_o.append(o["prompt_tok_s"]); tg_o.append(o["decode_tok_s"])
m = statistics.median
print(f"median over {n} rounds: llama.cpp pp512 {m(pp_c):.1f} tg128 {m(tg_c):.1f} | "
      f"llmserve pp512 {m(pp_o):.1f} tg128 {m(tg_o):.1f} | ratio pp {m(pp_o)/m(pp_c):.2f} tg {m(tg_o)/m(tg_c):.2f}")
PY

#!/usr/bin/env python3
"""Aggregate decode throughput of a running llama-server with N concurrent streaming clients.

Reproduces the measurement in ../shared/reference/llamacpp-cpu.md: every client sends the same-length
prompt (sized to exactly --prompt-tokens with the server's /tokenize), generates --gen-tokens tokens
with ignore_eos, streamed; all clients start together. Prints aggregate output tok/s (all generated
tokens / wall time of the round), mean TTFT and mean time per output token, median over --rounds.

Start the server first, e.g.:
  llama-server -m MODEL.gguf -np 8 -c 16384 -t 2 --port 8091
  scripts/bench-llama-server.py --url http://127.0.0.1:8091 --clients 1 4 8

Standard library only.
"""

import argparse
import json
import statistics
import threading
import time
import urllib.request

FILLER = (
    "The history of computing is a story of layered abstractions, from vacuum tubes to transistors, "
    "from machine code to high level languages, and from single machines to global networks. "
)


def post(url, body, stream=False):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=600)


def sized_prompt(base, n_tokens, salt):
    """A prompt of exactly n_tokens tokens (per the server's tokenizer), distinct per client."""
    text = f"Client {salt}. " + FILLER * (n_tokens // 20 + 4)
    tokens = json.load(post(f"{base}/tokenize", {"content": text}))["tokens"]
    return tokens[:n_tokens]


def run_client(base, prompt_tokens, gen_tokens, result):
    t0 = time.perf_counter()
    first = None
    count = 0
    body = {"prompt": prompt_tokens, "n_predict": gen_tokens, "ignore_eos": True, "stream": True,
            "temperature": 0.0, "cache_prompt": False}
    with post(f"{base}/completion", body) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            if event.get("content") or event.get("tokens"):
                if first is None:
                    first = time.perf_counter()
                count += 1
            if event.get("stop"):
                count = event.get("tokens_predicted", count)
                break
    end = time.perf_counter()
    result.update(ttft=(first or end) - t0, e2e=end - t0, tokens=count)


def round_once(base, clients, prompt_len, gen_tokens):
    prompts = [sized_prompt(base, prompt_len, f"{time.time_ns()}-{i}") for i in range(clients)]
    results = [dict() for _ in range(clients)]
    threads = [threading.Thread(target=run_client, args=(base, prompts[i], gen_tokens, results[i])) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    total = sum(r["tokens"] for r in results)
    ttft = statistics.mean(r["ttft"] for r in results)
    tpot = statistics.mean((r["e2e"] - r["ttft"]) / max(r["tokens"] - 1, 1) for r in results)
    return total / wall, ttft, tpot


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8091")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--prompt-tokens", type=int, default=235)
    ap.add_argument("--gen-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for clients in args.clients:
        runs = [round_once(args.url, clients, args.prompt_tokens, args.gen_tokens) for _ in range(args.rounds)]
        tok_s = statistics.median(r[0] for r in runs)
        ttft = statistics.median(r[1] for r in runs)
        tpot = statistics.median(r[2] for r in runs)
        rows.append({"clients": clients, "aggregate_tok_s": tok_s, "mean_ttft_s": ttft, "mean_tpot_ms": tpot * 1e3})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("| clients | aggregate output tok/s | mean TTFT (s) | mean time per output token (ms) |")
        print("|---|---|---|---|")
        for r in rows:
            print(f"| {r['clients']} | {r['aggregate_tok_s']:.1f} | {r['mean_ttft_s']:.2f} | {r['mean_tpot_ms']:.1f} |")


if __name__ == "__main__":
    main()

"""Bounded loopback load test: CLIENTS concurrent streaming chat clients on the default model.

Every request must either complete (a finish_reason and [DONE]) or get a clean 503 with Retry-After
(the admission cap is set below the client count on purpose, so both paths run); none may hang
(each has a deadline), nothing else is accepted. The server's RSS is sampled throughout and must stay
bounded; afterwards the engine must hold no request and every KV block must be free. Prints the numbers.

Usage: python tests/python/load_test.py path/to/llmserve [clients] [max_in_flight]
"""

import asyncio
import json
import statistics
import sys
import time

import httpx
from harness import Server

MAX_TOKENS = 8
REQUEST_DEADLINE_S = 300
RSS_GROWTH_LIMIT = 512 * 1024 * 1024


async def one_client(client, url, i, results):
    body = {
        "messages": [{"role": "user", "content": f"Client {i}: name a fruit and a colour."}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0.7,
        "seed": i,
        "stream": True,
    }
    start = time.monotonic()
    ttft = None
    try:
        async with asyncio.timeout(REQUEST_DEADLINE_S):
            async with client.stream("POST", url, json=body) as r:
                if r.status_code == 503:
                    payload = json.loads(await r.aread())
                    ok = r.headers.get("retry-after") and payload["error"]["code"] == "server_overloaded"
                    results.append(("503" if ok else "bad-503", time.monotonic() - start, None))
                    return
                if r.status_code != 200:
                    results.append((f"status-{r.status_code}", time.monotonic() - start, None))
                    return
                finish, done = None, False
                async for line in r.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    data = line[6:]
                    if data == "[DONE]":
                        done = True
                        continue
                    chunk = json.loads(data)
                    for c in chunk.get("choices", []):
                        if ttft is None and c["delta"].get("content"):
                            ttft = time.monotonic() - start
                        finish = c.get("finish_reason") or finish
                results.append(("ok" if (done and finish) else "incomplete", time.monotonic() - start, ttft))
    except TimeoutError:
        results.append(("hung", time.monotonic() - start, None))
    except httpx.HTTPError as e:
        results.append((f"error-{type(e).__name__}", time.monotonic() - start, None))


async def sample_rss(server, samples, stop):
    while not stop.is_set():
        samples.append(server.rss_bytes())
        await asyncio.sleep(0.1)


async def run(server, clients):
    url = server.base_url + "/v1/chat/completions"
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    async with httpx.AsyncClient(timeout=httpx.Timeout(REQUEST_DEADLINE_S), limits=limits) as client:
        # Warm-up (weights paged in, buffers grown) before the RSS baseline.
        warm = []
        await one_client(client, url, -1, warm)
        assert warm[0][0] == "ok", warm
        baseline = server.rss_bytes()
        samples, stop = [], asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server, samples, stop))
        results = []
        t0 = time.monotonic()
        await asyncio.gather(*(one_client(client, url, i, results) for i in range(clients)))
        wall = time.monotonic() - t0
        stop.set()
        await sampler
    return baseline, samples, results, wall


def main():
    binary = sys.argv[1]
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    max_in_flight = int(sys.argv[3]) if len(sys.argv) > 3 else 150
    with Server(binary, "--max-in-flight", str(max_in_flight), "--max-num-seqs", "64") as server:
        baseline, samples, results, wall = asyncio.run(run(server, clients))
        after = server.rss_bytes()
        metrics = server.metrics()
    kinds = {}
    for kind, _, _ in results:
        kinds[kind] = kinds.get(kind, 0) + 1
    ok = [r for r in results if r[0] == "ok"]
    ttfts = sorted(r[2] for r in ok if r[2] is not None)
    e2e = sorted(r[1] for r in ok)
    peak = max(samples) if samples else after
    print(f"load test: {clients} concurrent streaming clients, max_tokens {MAX_TOKENS}, admission cap {max_in_flight}")
    print(f"  outcomes: {kinds}; wall {wall:.1f} s")
    if ok:
        print(f"  completed: TTFT median {statistics.median(ttfts):.2f} s, max {ttfts[-1]:.2f} s; e2e median {statistics.median(e2e):.2f} s, max {e2e[-1]:.2f} s")
    print(f"  server RSS: baseline {baseline / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB (+{(peak - baseline) / 2**20:.0f} MiB), after {after / 2**20:.0f} MiB")
    print(f"  after: running {metrics['llmserve_num_requests_running']:.0f}, in flight {metrics['llmserve_num_requests_in_flight']:.0f}, "
          f"free blocks {metrics['llmserve_kv_cache_free_blocks']:.0f}/{metrics['llmserve_kv_cache_total_blocks']:.0f}")
    bad = {k: v for k, v in kinds.items() if k not in ("ok", "503")}
    assert not bad, f"requests neither completed nor cleanly refused: {bad}"
    assert len(results) == clients, f"{len(results)} results for {clients} clients"
    assert kinds.get("ok", 0) > 0, "nothing completed"
    assert peak - baseline < RSS_GROWTH_LIMIT, f"RSS grew by {(peak - baseline) / 2**20:.0f} MiB"
    assert metrics["llmserve_num_requests_running"] == 0 and metrics["llmserve_num_requests_waiting"] == 0
    assert metrics["llmserve_num_requests_in_flight"] == 0
    assert metrics["llmserve_kv_cache_free_blocks"] == metrics["llmserve_kv_cache_total_blocks"]
    print("load test: passed")


if __name__ == "__main__":
    main()

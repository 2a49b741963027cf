"""The retrieval service under load: N clients x M batched requests against `r1router kb serve` on loopback.

    python scripts/bench_retrieval_service.py [--kb-root data/kb] [--kb text] [--clients 4] [--requests 25]

Starts the service in this process (uvicorn on a free loopback port) over the
built KB, then sends `--clients` concurrent clients, each making `--requests`
`POST /search` calls of `--batch` queries (passages of the KB's own records, so
every query has a known best hit). Every response is compared with in-process
search of the same batch. The last line printed is a JSON object: requests,
errors, mismatches, p50/p99 latency in ms, and queries/s through the service
against in-process search of the same batches (one client, no HTTP).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvicorn

from r1router.kb.retriever import Retrievers
from r1router.kb.service import RemoteRetrievers, RetrievalServiceError, create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(retrievers: Retrievers) -> tuple[str, uvicorn.Server]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(retrievers), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def same(hits: list, expected: list) -> bool:
    """Same ids in the same order, scores equal up to the 6 decimals the service sends."""
    return [[hit.id for hit in row] for row in hits] == [[hit.id for hit in row] for row in expected] and all(
        abs(a.score - b.score) <= 1e-6
        for row, other in zip(hits, expected, strict=True)
        for a, b in zip(row, other, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb-root", type=Path, default=Path("data/kb"))
    parser.add_argument("--kb", default="text")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()

    local = Retrievers(args.kb_root, [args.kb], device="cpu")
    passages = local.kbs[args.kb].passages
    batches = [
        [passages[(i * args.batch + j) % len(passages)][:300] for j in range(args.batch)]
        for i in range(args.clients * args.requests)
    ]
    started = time.perf_counter()
    expected = [local.search(args.kb, batch, None, args.k) for batch in batches]
    in_process_s = time.perf_counter() - started

    url, server = serve(local)
    latencies: list[float] = []
    errors = mismatches = 0

    def client(index: int) -> None:
        nonlocal errors, mismatches
        remote = RemoteRetrievers(url)
        for n in range(args.requests):
            batch_index = index * args.requests + n
            sent = time.perf_counter()
            try:
                hits = remote.search(args.kb, batches[batch_index], None, args.k)
            except RetrievalServiceError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)
            mismatches += not same(hits, expected[batch_index])
        remote.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        list(pool.map(client, range(args.clients)))
    service_s = time.perf_counter() - started
    server.should_exit = True

    total = args.clients * args.requests
    ordered = sorted(latencies)
    result = {
        "kb": args.kb,
        "records": len(passages),
        "clients": args.clients,
        "requests": total,
        "batch": args.batch,
        "errors": errors,
        "mismatches": mismatches,
        "p50_ms": round(1000 * statistics.median(ordered), 1) if ordered else None,
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1) if ordered else None,
        "service_queries_per_s": round(total * args.batch / service_s, 1),
        "in_process_queries_per_s": round(total * args.batch / in_process_s, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

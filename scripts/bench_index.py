"""Index types at scale: the memory estimate against measured peak RSS, and speed and recall against flat.

    python scripts/bench_index.py [--count 1000000] [--types flat,sharded,hnsw,ivf,ivfpq] [--real 12000]

1. Memory: for each type, a fresh process writes `--count` random unit vectors
   of 384 dimensions (MiniLM's) as float16 shards of `--shard-size` rows to a
   temporary directory, then builds and saves the index from them through `write_index`
   (`sharded`: file by file) one shard at a time, as a KB build does, and reports the build's peak RSS
   above the RSS it started with (sampled every 5 ms), next to
   `r1router.kb.index.build_bytes` (the whole index step: no embedding is held before it),
   and the build's seconds next to `r1router.kb.build_time.index_seconds`.
2. Quality: real embeddings (all-MiniLM-L6-v2 over the paper's released
   validation questions and retrieved passages, `R1ROUTER_RELEASE_DIR`), each
   type's queries/s and recall@10 against exact (flat) search of the same
   queries (`sharded`: 4 files, opened memory-mapped and merged, as a KB opens them).
The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil

from r1router.kb.build_time import index_seconds
from r1router.kb.embed import EmbeddingShards, save_shard, shard_bounds, shard_path
from r1router.kb.index import IndexConfig, InMemory, build_bytes, build_index, load_index, write_index

DIM = 384
CONFIGS = {
    "flat": IndexConfig("flat"),
    "sharded": IndexConfig("sharded", index_shard_rows=262_144),  # 4 files at 1M: the build holds one
    "hnsw": IndexConfig("hnsw"),
    "ivf": IndexConfig("ivf"),
    "ivfpq": IndexConfig("ivfpq"),
}


def unit_vectors(count: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    block = np.random.default_rng(seed).standard_normal((count, dim), dtype=np.float32)
    return block / np.linalg.norm(block, axis=1, keepdims=True)


def write_shards(directory: Path, count: int, shard_size: int) -> EmbeddingShards:
    """`count` random unit vectors as float16 shard files, generated a shard at a time (never all in memory)."""
    paths = []
    for index, (start, end) in enumerate(shard_bounds(count, shard_size)):
        paths.append(shard_path(directory, index))
        save_shard(paths[-1], unit_vectors(end - start, seed=index))
    return EmbeddingShards.of(paths)


def peak_rss_during(work: Callable[[], object]) -> tuple[int, float]:
    """(peak RSS above the RSS before `work`, seconds): RSS sampled every 5 ms on a thread while it runs."""
    process = psutil.Process()
    before = peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    try:
        work()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return max(peak, process.memory_info().rss) - before, seconds


def one_build(kind: str, count: int, shard_size: int) -> dict[str, float]:
    """In this (fresh) process: build one index from `count` vectors' shards; the peak RSS it added, its seconds."""
    with tempfile.TemporaryDirectory() as directory:
        shards = write_shards(Path(directory), count, shard_size)
        files = Path(directory) / "index"
        files.mkdir()
        # built and saved as a KB build does (`sharded`: file by file; build_index would merge them in memory)
        added, seconds = peak_rss_during(lambda: write_index(shards, CONFIGS[kind], files))
    return {
        "measured_gib": added / 1024**3,
        "estimate_gib": build_bytes(count, DIM, CONFIGS[kind], shard_size) / 1024**3,
        "seconds": seconds,
        "estimate_seconds": index_seconds(count, DIM, CONFIGS[kind]),
    }


def real_texts(limit: int) -> list[str]:
    """Real text: the paper's released validation questions and the passages its trajectories retrieved."""
    from r1router.corpus.retrieved import retrieved_passages
    from r1router.io import read_jsonl
    from r1router.training.steps import read_released_trajectories

    release = Path(os.environ.get("R1ROUTER_RELEASE_DIR", "../shared/data/r1router-release"))
    texts: list[str] = []
    for path in sorted(release.glob("*.jsonl")):
        if path.name.startswith("stepgrpo"):
            rows = [row for trajectory in read_released_trajectories(path) for row in trajectory]
            texts += [passage.text for row in rows for passage in retrieved_passages(row.problem)]
        else:
            texts += [str(row.get("question", "")) for row in read_jsonl(path)]
    unique = sorted({text.strip() for text in texts if text.strip()})
    return unique[:limit]


def quality(limit: int, types: list[str]) -> dict[str, dict[str, float]]:
    from r1router.encoders.text import TextEncoder

    texts = real_texts(limit)
    encoder = TextEncoder(Path("models/text_encoder"), "cpu", batch_size=128)
    vectors = encoder.encode(texts)
    queries = vectors[np.random.default_rng(1).choice(len(vectors), 1000, replace=False)]
    _, exact = build_index(vectors, CONFIGS["flat"]).search(queries, 10)
    out = {"corpus": {"texts": len(texts)}}
    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    for kind in types:
        # ~9.5k real texts are too few to train 8-bit PQ codebooks (39 x 256 vectors): 6-bit codes here;
        # and sharded is cut into 4 files, searched memory-mapped and merged as a KB opens it.
        if kind == "sharded":
            config = replace(CONFIGS[kind], index_shard_rows=-(-len(vectors) // 4))
            names = write_index(InMemory(vectors), config, work)
            index = load_index([work / name for name in names], len(vectors))
        else:
            config = replace(CONFIGS[kind], pq_bits=6) if kind == "ivfpq" else CONFIGS[kind]
            index = build_index(vectors, config)
        started = time.perf_counter()
        _, rows = index.search(queries, 10)
        seconds = time.perf_counter() - started
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, exact, strict=True)])
        out[kind] = {"queries_per_s": round(len(queries) / seconds, 1), "recall_at_10": round(float(recall), 4)}
    shutil.rmtree(work)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--shard-size", type=int, default=2048, help="rows per shard, as `kb build --shard-size`")
    parser.add_argument("--types", default="flat,sharded,hnsw,ivf,ivfpq")
    parser.add_argument("--real", type=int, default=12_000, help="real texts to embed for the quality part (0: skip)")
    parser.add_argument("--one", choices=sorted(CONFIGS), help=argparse.SUPPRESS)  # the per-type child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_build(args.one, args.count, args.shard_size)))
        return
    types = args.types.split(",")
    memory = {}
    for kind in types:
        child = subprocess.run(
            [sys.executable, __file__, "--one", kind, "--count", str(args.count), "--shard-size", str(args.shard_size)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.splitlines()[-1])
        memory[kind] = {key: round(value, 3) for key, value in result.items()}
        print(f"{kind}: {memory[kind]}", flush=True)
    scores = quality(args.real, types) if args.real else {}
    print(json.dumps({"count": args.count, "dim": DIM, "memory": memory, "quality": scores}))


if __name__ == "__main__":
    main()

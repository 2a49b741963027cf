"""How long a KB build will take, estimated before it starts, next to its memory (`r1router.kb.index.build_bytes`).

Embedding time is measured: a warm encoder's rate on a small seeded sample of
the records, times the records whose shards are not cached yet. Index time is
counted: faiss's k-means, IVF assignment, PQ encoding and flat search are
matrix multiplies, so their time is their floating-point operations over this
machine's measured GEMM rate, and reading shards and a flat add are copies (bytes over a measured
shard-read rate). The parts that are not GEMMs (PQ's 4-dimensional sub-vectors,
HNSW's graph walk) carry calibration constants measured with
`scripts/bench_index.py` on a 2-core machine; estimates are meant to be right
within about a factor of 2, enough to tell minutes from hours.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from r1router.kb.index import IndexConfig
from r1router.progress import _eta

# Measured with build_index on 400k x 64 and 200k x 384 float16 shards: faiss's flat add (its storage grows by
# doubling into fresh, zero-filled pages) takes ~1.5x as long as reading the same vectors from their shards.
FLAT_ADD_READS = 1.5
# PQ k-means and encoding over 4-dim sub-vectors are far from GEMM speed: each point-centroid pair costs about
# this many flop-equivalents beyond its 2 * dsub (faiss.ProductQuantizer.train at 4-8 bits, 0.2-1.9 ns a pair).
PQ_PAIR_OVERHEAD_FLOPS = 100.0
# HNSW inserts: each of efConstruction candidates compares ~hnsw_m neighbours, at this fraction of the GEMM rate
# with this overhead per distance (fitted to build_index's hnsw at 20k x 64 and 20k x 384: 110 and 400 us/insert).
HNSW_GEMM_FRACTION = 0.074
HNSW_DISTANCE_OVERHEAD_FLOPS = 112.0


@functools.cache
def gemm_flops() -> float:
    """This machine's float32 matrix-multiply rate (FLOP/s), measured once: the fastest of ~0.1 s of numpy GEMMs.

    The fastest, not the mean: a moment's load from another process would
    otherwise skew every estimate of a build that runs for minutes.
    """
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    a @ a  # warm-up: BLAS threads start, pages are faulted in
    fastest, deadline = float("inf"), time.perf_counter() + 0.1
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        a @ a
        fastest = min(fastest, time.perf_counter() - started)
    return 2 * 1024**3 / fastest


@functools.cache
def memory_bytes_per_s() -> float:
    """Rate (float32 bytes/s) of reading float16 shards as float32 into fresh memory, as a build does: measured once.

    64 MiB a time, above malloc's mmap threshold, so every conversion faults in new pages as a growing index does.
    """
    block = np.ones(16 * 1024**2, dtype=np.float16)
    block.astype(np.float32)
    runs, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < 0.1:
        block.astype(np.float32)
        runs += 1
    return runs * block.size * 4 / elapsed


def index_seconds(count: int, dim: int, config: IndexConfig, flops: float | None = None) -> float:
    """Estimated seconds to build `config`'s index over `count` vectors of `dim` on this CPU, from operation counts."""
    flops = flops or gemm_flops()
    read = count * dim * 4 / memory_bytes_per_s()  # every build reads each shard once, as float32
    store = read * (1 + FLAT_ADD_READS)  # flat, HNSW and IVF indexes also copy every vector in
    if config.type in ("flat", "sharded"):
        return store
    if config.type == "hnsw":
        distance = 2 * dim + HNSW_DISTANCE_OVERHEAD_FLOPS
        return store + count * config.hnsw_ef_construction * config.hnsw_m * distance / (flops * HNSW_GEMM_FRACTION)
    niter = faiss.ClusteringParameters().niter
    nlist = config.nlist(count)
    train = min(config.train_size(count), 256 * nlist)  # faiss's k-means subsamples to 256 points per centroid
    operations = niter * train * nlist * dim * 2 + count * nlist * dim * 2  # k-means, then assigning every vector
    if config.type == "ivf":
        return store + operations / flops
    m, ksub = config.subquantizers(dim), 2**config.pq_bits
    pair = 2 * dim // m + PQ_PAIR_OVERHEAD_FLOPS
    operations += niter * min(train, 256 * ksub) * ksub * m * pair + count * ksub * m * pair  # PQ training, encoding
    return read + operations / flops  # IVF-PQ stores codes, not vectors


def embedding_rate(
    encode: Callable[[list[dict[str, Any]]], np.ndarray],
    records: Sequence[dict[str, Any]],
    sample: int = 32,
    seed: int = 0,
) -> float:
    """Records/second of `encode` on a seeded sample of `records`, after a warm-up call that loads the model.

    The sample's vectors are discarded: the build embeds its shards in order later.
    """
    if not records:
        raise ValueError("no records to measure an embedding rate on")
    rows = np.random.default_rng(seed).choice(len(records), min(sample, len(records)), replace=False)
    chosen = [records[int(row)] for row in rows]
    encode(chosen[:2])
    started = time.perf_counter()
    encode(chosen)
    return len(chosen) / max(time.perf_counter() - started, 1e-9)


@dataclass(frozen=True)
class BuildEstimate:
    """What a KB build will cost, printed before it starts so a build that will not finish can be stopped."""

    records: int
    records_to_embed: int  # records in shards not cached yet
    embed_seconds: float | None  # None: not measured (embedding runs on a Ray cluster)
    index_type: str
    index_seconds: float
    ram_bytes: int
    gpu_bytes: int  # 0: the index is built on the CPU

    @property
    def total_seconds(self) -> float:
        """Embedding plus index time; only the index's when embedding time was not measured."""
        return (self.embed_seconds or 0.0) + self.index_seconds

    def describe(self) -> str:
        """One line for a person, e.g. `build estimate: embed 4,096 of 10,000 records ≈ 0:00:37, ...`."""
        if not self.records_to_embed:
            embed = f"all {self.records:,} records' embeddings cached"
        elif self.embed_seconds is None:
            embed = f"embed {self.records_to_embed:,} of {self.records:,} records on ray (time not estimated)"
        else:
            embed = f"embed {self.records_to_embed:,} of {self.records:,} records ≈ {_duration(self.embed_seconds)}"
        line = f"build estimate: {embed}, {self.index_type} index ≈ {_duration(self.index_seconds)}"
        line += f", peak RAM ≈ {self.ram_bytes / 1024**3:.1f} GiB"
        return line + (f", GPU ≈ {self.gpu_bytes / 1024**3:.1f} GiB" if self.gpu_bytes else "")


def _duration(seconds: float) -> str:
    """h:mm:ss, rounded up: work that takes any time never reads as 0:00:00."""
    return _eta(math.ceil(seconds))

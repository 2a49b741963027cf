"""How long a KB build will take, estimated before it starts, next to its memory (`r1router.kb.index.build_bytes`).

Embedding time is measured: a warm encoder's rate on a small seeded sample of
the records, times the records whose shards are not cached yet. Index time is
counted: faiss's k-means, IVF assignment, PQ encoding and HNSW's distances are
operation counts over this machine's measured GEMM rate (numpy's and faiss's
BLAS ran at the same rate here), and reading shards and a flat add are bytes
over a measured copy rate. What is not a GEMM (finding each point's nearest
centroid, PQ's 4-dimensional sub-vectors, HNSW's graph walk) carries constants
calibrated with `scripts/bench_index.py` on a 2-core machine: estimates are
meant to be right within about a factor of 2, enough to tell minutes from hours.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from r1router.kb.embed import EmbeddingShards, EncodeShard, missing_shards, shard_bounds, shard_path
from r1router.kb.index import IndexConfig, build_bytes, gpu_build_bytes, index_bytes
from r1router.progress import _eta

# Calibrated on this 2-core machine with scripts/bench_index.py (200k x 384, float16 shards) and build_index
# at 20k-50k x 64-384. Flat: the add (storage doubling into fresh, zero-filled pages) took ~2x as long as reading
# the vectors from their shards (0.58 s in all for 200k x 384, reading at ~2 GB/s).
FLAT_ADD_READS = 2.0
# IVF k-means and assignment: beyond the GEMM's 2 * dim per point-centroid pair, faiss writes and scans the
# pair's distance for the nearest centroid: ~300 flop-equivalents a pair (IVF builds: 0.25 s at 20k x 64,
# 512 lists; 20.9 s at 200k x 384, 1,788 lists; both with a 210 GFLOP/s GEMM).
KMEANS_PAIR_OVERHEAD_FLOPS = 300.0
# PQ k-means and encoding over 4-dim sub-vectors are far from GEMM speed: each point costs about this many
# flop-equivalents per sub-quantiser and iteration beyond its 2 * dsub * 2**bits (IVF-PQ builds: ~10 s of PQ at
# 200k x 384 with 8 bits, ~0.5 s at 20k x 64 with 6 bits; faiss.ProductQuantizer.train alike at 4 bits).
PQ_POINT_OVERHEAD_FLOPS = 12_000.0
# HNSW inserts: each of efConstruction candidates compares ~hnsw_m neighbours, at this fraction of the GEMM rate
# with this overhead per distance, over a walk that lengthens with ln(count / HNSW_GRAPH_SCALE): fitted to 490,
# 800 and 1,250 us an insert at 20k, 50k and 200k x 384 (and 110 us at 20k x 64).
HNSW_GEMM_FRACTION = 0.081
HNSW_DISTANCE_OVERHEAD_FLOPS = 112.0
HNSW_GRAPH_SCALE = 5800
# Saving an index: faiss.write_index of a 1.5 GB flat index took 6.4 s here (the disk's sustained rate once the
# page cache's dirty limit is reached; indexes under ~0.5 GB went to the page cache at 2-3 GB/s, over-estimated).
SUSTAINED_WRITE_BYTES_PER_S = 240e6
PROBE_RECORDS = 32  # embedded to time the encoder before a build: ~0.3 s of MiniLM on 2 CPU cores


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
    """Estimated seconds to build `config`'s index over `count` vectors of `dim` on this CPU, from operation
    counts, and to save it (at the disk's sustained rate: a large flat index spends most of its build there)."""
    write = index_bytes(count, dim, config) / SUSTAINED_WRITE_BYTES_PER_S
    return write + _build_seconds(count, dim, config, flops or gemm_flops())


def _build_seconds(count: int, dim: int, config: IndexConfig, flops: float) -> float:
    read = count * dim * 4 / memory_bytes_per_s()  # every build reads each shard once, as float32
    store = read * (1 + FLAT_ADD_READS)  # flat, HNSW and IVF indexes also copy every vector in
    if config.type in ("flat", "sharded"):
        return store
    if config.type == "hnsw":
        distances = config.hnsw_ef_construction * config.hnsw_m * max(1.0, math.log(count / HNSW_GRAPH_SCALE))
        insert = distances * (2 * dim + HNSW_DISTANCE_OVERHEAD_FLOPS) / (flops * HNSW_GEMM_FRACTION)
        return store + count * insert
    ivf_iterations, pq_iterations = _kmeans_iterations()
    nlist = config.nlist(count)
    train = min(config.train_size(count), 256 * nlist)  # faiss's k-means subsamples to 256 points per centroid
    pairs = (ivf_iterations * train + count) * nlist  # k-means, then assigning every vector
    operations = pairs * (2 * dim + KMEANS_PAIR_OVERHEAD_FLOPS)
    if config.type == "ivf":
        return store + operations / flops
    m, ksub = config.subquantizers(dim), 2**config.pq_bits
    points = pq_iterations * min(train, 256 * ksub) + count  # PQ k-means per sub-quantiser, then encoding
    operations += points * m * (2 * dim // m * ksub + PQ_POINT_OVERHEAD_FLOPS)
    return read + operations / flops  # IVF-PQ stores codes, not vectors


def _kmeans_iterations() -> tuple[int, int]:
    """faiss's k-means iterations for an IVF's lists and for PQ codebooks: its defaults differ (10 and 25)."""
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(8), 8, 1, 2, 8)
    return index.cp.niter, index.pq.cp.niter


@dataclass(frozen=True)
class Probe:
    """A warm encoder's speed and output width, measured on a sample."""

    records_per_s: float
    dim: int


def embedding_rate(encode: EncodeShard, records: Sequence[dict[str, Any]], sample: int = 32, seed: int = 0) -> Probe:
    """Records/second of `encode` on a seeded sample of `records`, after a warm-up call that loads the model.

    The sample's vectors are discarded (the build embeds its shards in order
    later); their width is kept, for the memory estimate before anything is embedded.
    """
    if not records:
        raise ValueError("no records to measure an embedding rate on")
    rows = np.random.default_rng(seed).choice(len(records), min(sample, len(records)), replace=False)
    chosen = [records[int(row)] for row in rows]
    encode(chosen[:2])
    started = time.perf_counter()
    vectors = np.asarray(encode(chosen))
    return Probe(len(chosen) / max(time.perf_counter() - started, 1e-9), int(vectors.shape[1]))


def estimate_build(
    records: Sequence[dict[str, Any]],
    encode: EncodeShard,
    entry: Path,
    shard_size: int,
    config: IndexConfig,
    device: str,
) -> tuple[BuildEstimate, int]:
    """(the estimate, the embedding width) of a KB build whose embedding cache entry is `entry`.

    Only the records of shards not cached yet count as embedding work, timed on
    a sample of them (this loads the encoder, which the build needs next anyway);
    with every shard cached nothing is loaded and the width is the cache's.
    """
    bounds = shard_bounds(len(records), shard_size)
    missing = [row for number in missing_shards(entry, bounds) for row in range(*bounds[number])]
    if missing:
        probe = embedding_rate(encode, [records[row] for row in missing], PROBE_RECORDS)
        dim, embed_seconds = probe.dim, len(missing) / probe.records_per_s
    else:
        dim, embed_seconds = EmbeddingShards.of([shard_path(entry, 0)]).dim, 0.0
    count = len(records)
    estimate = BuildEstimate(
        records=count,
        records_to_embed=len(missing),
        embed_seconds=embed_seconds,
        index_type=config.type,
        index_seconds=index_seconds(count, dim, config),
        ram_bytes=build_bytes(count, dim, config, shard_rows=shard_size),
        gpu_bytes=gpu_build_bytes(count, dim, config, device),
    )
    return estimate, dim


@dataclass(frozen=True)
class BuildEstimate:
    """What a KB build will cost, printed before it starts so a build that will not finish can be stopped."""

    records: int
    records_to_embed: int  # records in shards not cached yet
    embed_seconds: float
    index_type: str
    index_seconds: float
    ram_bytes: int
    gpu_bytes: int  # 0: the index is built on the CPU

    @property
    def total_seconds(self) -> float:
        return self.embed_seconds + self.index_seconds

    def describe(self) -> str:
        """One line for a person, e.g. `build estimate: embed 4,096 of 10,000 records ≈ 0:00:37, ...`."""
        if not self.records_to_embed:
            embed = f"all {self.records:,} records' embeddings cached"
        else:
            embed = f"embed {self.records_to_embed:,} of {self.records:,} records ≈ {_duration(self.embed_seconds)}"
        line = f"build estimate: {embed}, {self.index_type} index ≈ {_duration(self.index_seconds)}"
        line += f", peak RAM ≈ {self.ram_bytes / 1024**3:.1f} GiB"
        return line + (f", GPU ≈ {self.gpu_bytes / 1024**3:.1f} GiB" if self.gpu_bytes else "")


def _duration(seconds: float) -> str:
    """h:mm:ss, rounded up: work that takes any time never reads as 0:00:00."""
    return _eta(math.ceil(seconds))

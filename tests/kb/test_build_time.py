"""The build-time estimate: index time from operation counts against real builds, embedding rate from a sample."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from r1router.kb.build_time import (
    BuildEstimate,
    embedding_rate,
    estimate_build,
    gemm_flops,
    index_seconds,
    memory_bytes_per_s,
)
from r1router.kb.embed import EmbeddingShards, save_shard, shard_bounds, shard_path
from r1router.kb.index import IndexConfig, build_bytes, write_index

TYPES = ("flat", "ivf", "ivfpq", "hnsw")


def test_machine_rates_are_plausible_and_measured_once() -> None:
    assert 1e8 < gemm_flops() < 1e14
    assert 1e8 < memory_bytes_per_s() < 1e12
    assert gemm_flops() is gemm_flops()  # functools.cache: one measurement a process


@pytest.mark.parametrize("kind", TYPES)
def test_index_time_grows_with_count(kind: str) -> None:
    config = IndexConfig(kind)
    times = [index_seconds(count, 384, config, flops=1e11) for count in (20_000, 200_000, 2_000_000)]
    assert times[0] < times[1] < times[2]


def test_index_types_order_by_work() -> None:
    times = {kind: index_seconds(1_000_000, 384, IndexConfig(kind), flops=1e11) for kind in TYPES}
    assert times["ivfpq"] > times["ivf"] > times["flat"]
    assert times["hnsw"] > 100 * times["flat"]


def test_sharded_costs_what_flat_does() -> None:
    assert index_seconds(100_000, 384, IndexConfig("sharded")) == index_seconds(100_000, 384, IndexConfig("flat"))


def unit_vector_shards(directory: Path, count: int, dim: int) -> EmbeddingShards:
    """Random unit vectors as float16 shards of 2,048 rows: what a KB build's index step reads."""
    vectors = np.random.default_rng(0).standard_normal((count, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    paths = [shard_path(directory, n) for n in range(len(shard_bounds(count, 2048)))]
    for path, (start, end) in zip(paths, shard_bounds(count, 2048), strict=True):
        save_shard(path, vectors[start:end])
    return EmbeddingShards.of(paths)


# Sizes where one build takes 0.1-3 s here, long enough that timer and thread-start noise do not dominate:
# a flat build of 20k x 64 takes a few milliseconds, so flat is timed at 400k x 64 (100 MiB).
@pytest.mark.parametrize(
    ("count", "config"),
    [
        (400_000, IndexConfig("flat")),
        (20_000, IndexConfig("ivf")),
        (20_000, IndexConfig("ivfpq", pq_bits=6)),
        (10_000, IndexConfig("hnsw")),
    ],
    ids=TYPES,
)
def test_estimate_within_a_factor_of_3_of_a_real_build(tmp_path: Path, count: int, config: IndexConfig) -> None:
    shards = unit_vector_shards(tmp_path, count, 64)
    estimate = index_seconds(count, 64, config)
    started = time.perf_counter()
    write_index(shards, config, tmp_path)  # built and saved, as a KB build does
    measured = time.perf_counter() - started
    assert measured / 3 < estimate < measured * 3, (estimate, measured)


def test_embedding_rate_times_a_warm_encoder_on_a_sample() -> None:
    calls: list[int] = []

    def encode(records: list[dict]) -> np.ndarray:
        time.sleep((0.5 if not calls else 0.0) + 0.002 * len(records))  # the first call loads a "model"
        calls.append(len(records))
        return np.zeros((len(records), 8), dtype=np.float32)

    records = [{"id": i} for i in range(1000)]
    probe = embedding_rate(encode, records, sample=32)
    assert 500 * 0.7 < probe.records_per_s < 500 * 1.3 and probe.dim == 8
    assert calls[-1] == 32 and len(calls) == 2  # one warm-up, then the sample


def test_embedding_rate_samples_by_seed() -> None:
    seen: list[list[int]] = []

    def encode(records: list[dict]) -> np.ndarray:
        seen.append([record["id"] for record in records])
        return np.zeros((len(records), 8), dtype=np.float32)

    records = [{"id": i} for i in range(1000)]
    embedding_rate(encode, records, sample=16, seed=3)
    embedding_rate(encode, records, sample=16, seed=3)
    embedding_rate(encode, records, sample=16, seed=4)
    assert seen[1] == seen[3] != seen[5]
    assert seen[1] != list(range(16))  # a random sample, not the first records


def estimate(**changes: object) -> BuildEstimate:
    fields = {
        "records": 10_000,
        "records_to_embed": 4_096,
        "embed_seconds": 37.2,
        "index_type": "flat",
        "index_seconds": 0.4,
        "ram_bytes": int(1.6 * 1024**3),
        "gpu_bytes": 0,
    }
    return BuildEstimate(**{**fields, **changes})  # type: ignore[arg-type]


def test_describe_gives_the_numbers_on_one_line() -> None:
    line = estimate().describe()
    assert line == "build estimate: embed 4,096 of 10,000 records ≈ 0:00:38, flat index ≈ 0:00:01, peak RAM ≈ 1.6 GiB"
    assert estimate().total_seconds == pytest.approx(37.6)
    with_gpu = estimate(gpu_bytes=3 * 1024**3, index_type="ivf", index_seconds=3725).describe()
    assert "ivf index ≈ 1:02:05" in with_gpu and with_gpu.endswith(", GPU ≈ 3.0 GiB") and "\n" not in with_gpu


def test_describe_when_every_embedding_is_cached() -> None:
    cached = estimate(records_to_embed=0, embed_seconds=0.0).describe()
    assert "embed" not in cached.replace("embeddings", "") and "all 10,000 records' embeddings cached" in cached


def test_estimate_build_times_only_the_shards_not_cached_and_loads_nothing_when_all_are(tmp_path: Path) -> None:
    records = [{"id": str(i), "text": f"record {i}"} for i in range(10)]
    calls: list[int] = []

    def encode(batch: list[dict]) -> np.ndarray:
        calls.append(len(batch))
        return np.ones((len(batch), 16), dtype=np.float32) / 4

    entry = tmp_path / "entry"
    entry.mkdir()
    save_shard(shard_path(entry, 0), np.ones((4, 16), dtype=np.float32) / 4)  # shard 0 of 4 rows is cached
    config = IndexConfig("flat")
    half, dim = estimate_build(records, encode, entry, 4, config, "cpu")
    assert (half.records, half.records_to_embed, dim) == (10, 6, 16) and half.embed_seconds > 0
    assert calls == [2, 6]  # a warm-up, then the sample: only the 6 records of shards 1 and 2
    assert half.ram_bytes == build_bytes(10, 16, config, shard_rows=4) and half.gpu_bytes == 0

    for number, rows in ((1, 4), (2, 2)):
        save_shard(shard_path(entry, number), np.ones((rows, 16), dtype=np.float32) / 4)
    calls.clear()
    cached, dim = estimate_build(records, encode, entry, 4, config, "cpu")
    assert (cached.records_to_embed, cached.embed_seconds, dim, calls) == (0, 0.0, 16, [])

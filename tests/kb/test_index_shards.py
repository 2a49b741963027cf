"""An index built from float16 shards, one at a time: the same index as from the vectors in memory."""

import faiss
import numpy as np
import pytest

from r1router.errors import ConfigError
from r1router.kb import index as index_module
from r1router.kb.embed import EmbeddingShards, save_shard
from r1router.kb.index import IndexConfig, build_index, check_fits_gpu, gpu_build_bytes


def unit_vectors(n, dim=32, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def as_shards(directory, vectors, shard_size):
    paths = []
    for start in range(0, len(vectors), shard_size):
        paths.append(directory / f"emb-{start // shard_size:05d}.npy")
        save_shard(paths[-1], vectors[start : start + shard_size])
    return EmbeddingShards.of(paths)


def test_flat_from_shards_finds_what_float32_flat_finds_within_float16_rounding(tmp_path):
    vectors, queries = unit_vectors(1000), unit_vectors(50, seed=1)
    shards = as_shards(tmp_path, vectors, 128)
    exact_scores, exact_rows = build_index(vectors, IndexConfig("flat")).search(queries, 5)
    scores, rows = build_index(shards, IndexConfig("flat")).search(queries, 5)
    # a score moves by at most |q| * |v - fp16(v)|, under 2^-11 * sqrt(dim) for unit vectors
    np.testing.assert_allclose(scores, exact_scores, atol=2**-11 * np.sqrt(32))
    assert (rows[:, 0] == exact_rows[:, 0]).mean() >= 0.98
    rounded = vectors.astype(np.float16).astype(np.float32)  # what the shards hold: there, the same index exactly
    np.testing.assert_array_equal(rows, build_index(rounded, IndexConfig("flat")).search(queries, 5)[1])


@pytest.mark.parametrize(
    "config",
    [
        IndexConfig("ivf", ivf_nlist=16, train_sample=600),
        IndexConfig("ivfpq", ivf_nlist=8, pq_m=8, pq_bits=4, train_sample=1000),
    ],
)
def test_inverted_index_from_shards_trains_on_a_sample_across_shards_and_equals_the_in_memory_one(
    tmp_path, config, monkeypatch
):
    vectors, queries = unit_vectors(2000), unit_vectors(50, seed=1)
    shards = as_shards(tmp_path, vectors, 300)
    taken = []
    take = EmbeddingShards.take
    monkeypatch.setattr(EmbeddingShards, "take", lambda self, rows: taken.append(rows) or take(self, rows))
    from_shards = build_index(shards, config)
    [sample] = taken
    assert len(sample) == config.train_size(2000) and len(set(sample // 300)) == 7  # every shard contributes
    in_memory = build_index(np.asarray(shards), config)  # the same float16-rounded values, all held
    for left, right in zip(from_shards.search(queries, 5), in_memory.search(queries, 5), strict=True):
        np.testing.assert_array_equal(left, right)


class FakeGpuIndex:
    """What `index_cpu_to_gpu` returns: records the adds it gets, forwards them to the CPU index it wraps."""

    def __init__(self, index):
        self.cpu, self.added = index, []

    def add(self, block):
        self.added.append(len(block))
        self.cpu.add(block)


def test_with_faiss_gpu_a_flat_index_is_filled_on_the_gpu_and_returned_in_cpu_form(tmp_path, monkeypatch):
    """faiss-gpu's surface faked (this machine has none): the branch adds on the device and converts back."""
    moved = []
    monkeypatch.setattr(faiss, "StandardGpuResources", object, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(
        faiss,
        "index_cpu_to_gpu",
        lambda res, dev, index: moved.append(FakeGpuIndex(index)) or moved[-1],
        raising=False,
    )
    monkeypatch.setattr(faiss, "index_gpu_to_cpu", lambda gpu: gpu.cpu, raising=False)
    shards = as_shards(tmp_path, unit_vectors(500), 200)
    assert index_module.gpu_available()

    index = build_index(shards, IndexConfig("flat"), device="cuda")
    assert isinstance(index, faiss.IndexFlatIP) and index.ntotal == 500
    assert [gpu.added for gpu in moved] == [[200, 200, 100]]
    hnsw = build_index(shards, IndexConfig("hnsw", hnsw_m=8), device="cuda")  # no GPU form: built on the CPU
    assert hnsw.ntotal == 500 and len(moved) == 1
    build_index(shards, IndexConfig("flat"), device="cpu")
    assert len(moved) == 1


def test_a_gpu_build_that_will_not_fit_the_card_is_refused_with_its_numbers(monkeypatch):
    """faiss-gpu's surface faked: flat and IVF are filled on the card, so the whole index must fit there."""
    monkeypatch.setattr(faiss, "StandardGpuResources", object, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    gib, flat = 1024**3, IndexConfig("flat")
    paper = gpu_build_bytes(50_000_000, 1024, flat, "cuda")
    assert paper > 190 * gib
    assert gpu_build_bytes(50_000_000, 1024, flat, "cpu") == 0
    assert gpu_build_bytes(50_000_000, 1024, IndexConfig("hnsw"), "cuda") == 0  # built on the CPU
    assert gpu_build_bytes(50_000_000, 1024, IndexConfig("sharded"), "cuda") == 0
    with pytest.raises(ConfigError, match=r"needs about 2\d\d\.\d GiB of GPU memory .* but 80\.0 GiB is free"):
        check_fits_gpu(50_000_000, 1024, flat, "cuda", 80 * gib)
    assert check_fits_gpu(1_000_000, 384, flat, "cuda", 80 * gib) == gpu_build_bytes(1_000_000, 384, flat, "cuda")

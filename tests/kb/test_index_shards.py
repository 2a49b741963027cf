"""An index built from float16 shards, one at a time: the same index as from the vectors in memory.

And the `sharded` type, which also writes its index one file at a time and merges the files by score.
"""

import json
import re

import faiss
import numpy as np
import pytest

from r1router.errors import ConfigError, DataError
from r1router.kb import index as index_module
from r1router.kb.build import build_kb
from r1router.kb.embed import EmbeddingShards, save_shard
from r1router.kb.index import (
    IndexConfig,
    build_bytes,
    build_index,
    check_fits_gpu,
    gpu_build_bytes,
    load_index,
    to_search_device,
    write_index,
)
from r1router.kb.retriever import KnowledgeBase


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


# The sharded flat index: exact search cut into files of `index_shard_rows`, merged by score when searched.

SHARDED = IndexConfig("sharded", index_shard_rows=130)  # cuts across the 100-row embedding shards


def test_written_shards_are_cut_by_rows_and_search_exactly_like_one_flat_index(tmp_path):
    shards = as_shards(tmp_path, unit_vectors(500), 100)
    queries = unit_vectors(40, seed=1)
    names = write_index(shards, SHARDED, tmp_path)

    assert names == ("index-00000.faiss", "index-00001.faiss", "index-00002.faiss", "index-00003.faiss")
    assert [faiss.read_index(str(tmp_path / name)).ntotal for name in names] == [130, 130, 130, 110]
    merged = load_index([tmp_path / name for name in names], 500)
    flat_scores, flat_rows = build_index(shards, IndexConfig("flat")).search(queries, 10)
    scores, rows = merged.search(queries, 10)
    np.testing.assert_array_equal(rows, flat_rows)  # row ids continue across shards: row i is record i
    np.testing.assert_allclose(scores, flat_scores, rtol=1e-6)
    in_memory = build_index(shards, SHARDED)
    np.testing.assert_array_equal(in_memory.search(queries, 10)[1], flat_rows)


def test_a_missing_or_wrong_shard_is_refused_by_count(tmp_path):
    names = write_index(as_shards(tmp_path, unit_vectors(300), 100), SHARDED, tmp_path)
    paths = [tmp_path / name for name in names]
    with pytest.raises(DataError, match="index holds 260 vectors but its KB has 300 records"):
        load_index(paths[:2], 300)
    paths[1].write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"index-00001\.faiss.*not a readable faiss index"):
        load_index(paths, 300)


def test_the_build_holds_one_index_shard_not_the_whole_index():
    config = IndexConfig("sharded", index_shard_rows=1_000_000)
    whole, sharded = build_bytes(50_000_000, 1024, IndexConfig("flat")), build_bytes(50_000_000, 1024, config)
    assert whole > 200 * 1024**3 and sharded < whole / 40
    assert build_bytes(1000, 64, config) == build_bytes(1000, 64, IndexConfig("flat"))
    assert config.file_names(3_000_000) == ("index-00000.faiss", "index-00001.faiss", "index-00002.faiss")
    assert config.file_names(3_000_001)[-1] == "index-00003.faiss"
    assert IndexConfig("flat").file_names(3_000_001) == ("index.faiss",)
    with pytest.raises(ConfigError, match="index_shard_rows must be at least 1"):
        IndexConfig("sharded", index_shard_rows=0)


def test_on_gpus_the_shards_go_round_robin_and_still_merge(tmp_path, monkeypatch):
    """faiss-gpu's surface faked (this machine has none): which card each shard is copied to."""
    placed = []
    monkeypatch.setattr(faiss, "StandardGpuResources", object, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 2)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", lambda res, card, index: placed.append(card) or index, raising=False)
    names = write_index(as_shards(tmp_path, unit_vectors(500), 100), SHARDED, tmp_path)
    merged = load_index([tmp_path / name for name in names], 500)
    assert index_module.gpu_available()
    on_gpu = to_search_device(merged, "cuda")
    assert placed == [0, 1, 0, 1] and on_gpu.ntotal == 500
    queries = unit_vectors(5, seed=2)
    np.testing.assert_array_equal(on_gpu.search(queries, 5)[1], merged.search(queries, 5)[1])


@pytest.mark.usefixtures("encoder_dir")
def test_a_sharded_kb_builds_lists_every_file_and_searches_like_a_flat_one(tmp_path, text_kb_file, hashing_encoder):
    spec = {"family": "text", "path": str(tmp_path / "encoder")}

    def build(out, config):
        return build_kb("text", text_kb_file, out, spec, config, shard_dir=tmp_path / "cache", encoder=hashing_encoder)

    manifest, _ = build(tmp_path / "sharded", IndexConfig("sharded", index_shard_rows=4))
    build(tmp_path / "flat", IndexConfig("flat"))
    assert sorted(manifest["files"]) == [f"index-0000{n}.faiss" for n in range(3)] + ["records.parquet"]
    assert sorted(p.name for p in (tmp_path / "sharded").iterdir()) == sorted([*manifest["files"], "manifest.json"])
    assert not list(tmp_path.glob(".sharded.*"))  # the staging directory is gone
    queries = ["glacier passage", "castle", "a river"]
    sharded = KnowledgeBase(tmp_path / "sharded", encoder=hashing_encoder).search(queries, k=4)
    flat = KnowledgeBase(tmp_path / "flat", encoder=hashing_encoder).search(queries, k=4)
    # the hashing encoder ties many passages at one score, which either index may order its own way
    assert [[round(hit.score, 5) for hit in hits] for hits in sharded] == [
        [round(hit.score, 5) for hit in hits] for hits in flat
    ]
    assert [hits[0].id for hits in sharded] == [hits[0].id for hits in flat]

    _, stats = build_kb(
        "text",
        text_kb_file,
        tmp_path / "sharded",
        spec,
        IndexConfig("sharded", index_shard_rows=4),
        shard_dir=tmp_path / "cache",
        encoder=hashing_encoder,
        replace=True,
    )
    assert stats["shards_reused"] == 1  # --force over a sharded KB: its files are a KB's, not foreign ones

    with (tmp_path / "sharded" / "index-00001.faiss").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(DataError, match=r"index-00001\.faiss: is .* bytes but the KB's manifest says"):
        KnowledgeBase(tmp_path / "sharded", encoder=hashing_encoder)


@pytest.mark.usefixtures("encoder_dir")
def test_a_manifest_naming_a_file_outside_the_kb_is_refused(tmp_path, text_kb_file, hashing_encoder):
    spec = {"family": "text", "path": str(tmp_path / "encoder")}
    build_kb(
        "text", text_kb_file, tmp_path / "kb", spec, IndexConfig(), shard_dir=tmp_path / "c", encoder=hashing_encoder
    )
    manifest_path = tmp_path / "kb" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["../../etc/passwd"] = {"size": 1, "sha256": "0" * 64}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=re.escape("names files a KB does not hold: ../../etc/passwd")):
        KnowledgeBase(tmp_path / "kb", encoder=hashing_encoder)
    del manifest["files"]["../../etc/passwd"], manifest["files"]["index.faiss"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=re.escape("no size and sha256 for index.faiss")):
        KnowledgeBase(tmp_path / "kb", encoder=hashing_encoder)

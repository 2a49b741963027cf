"""The sharded flat index: exact search cut into files of `index_shard_rows`, merged by score when searched."""

import json
import re

import faiss
import numpy as np
import pytest

from r1router.errors import ConfigError, DataError
from r1router.kb import index as index_module
from r1router.kb.build import build_kb
from r1router.kb.embed import EmbeddingShards, save_shard
from r1router.kb.index import IndexConfig, build_bytes, build_index, load_index, to_search_device, write_index
from r1router.kb.retriever import KnowledgeBase

pytestmark = pytest.mark.usefixtures("encoder_dir")


def unit_vectors(n, dim=32, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def embedding_shards(directory, vectors, shard_size):
    paths = []
    for start in range(0, len(vectors), shard_size):
        paths.append(directory / f"emb-{start // shard_size:05d}.npy")
        save_shard(paths[-1], vectors[start : start + shard_size])
    return EmbeddingShards.of(paths)


SHARDED = IndexConfig("sharded", index_shard_rows=130)  # cuts across the 100-row embedding shards


def test_written_shards_are_cut_by_rows_and_search_exactly_like_one_flat_index(tmp_path):
    shards = embedding_shards(tmp_path, unit_vectors(500), 100)
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
    names = write_index(embedding_shards(tmp_path, unit_vectors(300), 100), SHARDED, tmp_path)
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
    names = write_index(embedding_shards(tmp_path, unit_vectors(500), 100), SHARDED, tmp_path)
    merged = load_index([tmp_path / name for name in names], 500)
    assert index_module.gpu_available()
    on_gpu = to_search_device(merged, "cuda")
    assert placed == [0, 1, 0, 1] and on_gpu.ntotal == 500
    queries = unit_vectors(5, seed=2)
    np.testing.assert_array_equal(on_gpu.search(queries, 5)[1], merged.search(queries, 5)[1])


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

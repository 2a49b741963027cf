"""Build a KB end to end (validate → embed → index → manifest) and search it."""

import json

import numpy as np
import pytest

from r1router.errors import DataError
from r1router.kb import build_time
from r1router.kb.build import build_kb
from r1router.kb.embed import EmbeddingShards
from r1router.kb.index import IndexConfig
from r1router.kb.retriever import KnowledgeBase

pytestmark = pytest.mark.usefixtures("encoder_dir")


def build(text_kb_file, out, encoder, tmp_path, replace=False):
    """Build with `encoder` injected; the manifest names the `encoder_dir` fixture's directory."""
    spec = {"family": "text", "path": str(tmp_path / "encoder")}
    return build_kb(
        "text", text_kb_file, out, spec, IndexConfig(), shard_dir=tmp_path / "shards", encoder=encoder, replace=replace
    )


def test_search_returns_ranked_hits_with_ids_scores_and_text(tmp_path, text_kb_file, hashing_encoder):
    manifest, stats = build(text_kb_file, tmp_path / "kb", hashing_encoder, tmp_path)
    assert manifest["count"] == 10 and manifest["dim"] == 256 and manifest["kind"] == "text"
    assert stats["shards_computed"] == 1
    kb = KnowledgeBase(tmp_path / "kb", encoder=hashing_encoder)
    results = kb.search(["glacier passage", "castle"], k=3)
    assert [len(hits) for hits in results] == [3, 3]
    assert results[0][0].id == "p4" and results[1][0].id == "p2"
    assert results[0][0].text == "The glacier\nA passage about the glacier."
    assert results[0][0].score >= results[0][1].score >= results[0][2].score


def test_rebuild_from_same_input_writes_identical_manifest_and_reuses_shards(tmp_path, text_kb_file, hashing_encoder):
    build(text_kb_file, tmp_path / "kb", hashing_encoder, tmp_path)
    first = (tmp_path / "kb" / "manifest.json").read_bytes()
    _, stats = build(text_kb_file, tmp_path / "kb", hashing_encoder, tmp_path, replace=True)
    assert stats["shards_reused"] == 1 and stats["shards_computed"] == 0
    assert (tmp_path / "kb" / "manifest.json").read_bytes() == first


def test_bad_input_writes_nothing(tmp_path, text_kb_file, hashing_encoder):
    text_kb_file.write_text(text_kb_file.read_text() + json.dumps({"id": "x", "title": "no text"}) + "\n")
    with pytest.raises(DataError, match=r"line 11, field 'text'"):
        build(text_kb_file, tmp_path / "kb", hashing_encoder, tmp_path)
    assert not (tmp_path / "kb").exists()
    assert hashing_encoder.calls == 0


def test_kb_whose_index_does_not_match_its_records_is_refused(tmp_path, text_kb_file, hashing_encoder):
    build(text_kb_file, tmp_path / "kb", hashing_encoder, tmp_path)
    manifest_path = tmp_path / "kb" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["count"] = 11
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="holds 10 records, manifest says 11"):
        KnowledgeBase(tmp_path / "kb", encoder=hashing_encoder)


class BruteForceIndex:
    """A `VectorIndex` that is not faiss: what a sharded or remote index would plug in as."""

    def __init__(self, vectors):
        self.vectors = np.asarray(vectors, dtype=np.float32)

    @property
    def ntotal(self):
        return len(self.vectors)

    def search(self, vectors, k):
        scores = vectors @ self.vectors.T
        rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, rows, axis=1), rows


def test_any_vector_index_can_stand_behind_a_kb(tmp_path, text_kb_file, hashing_encoder):
    build(text_kb_file, tmp_path / "kb", hashing_encoder, tmp_path)
    records = [json.loads(line) for line in text_kb_file.read_text().splitlines()]
    # the KB's vectors: its encoder's, rounded to the float16 its shards hold
    vectors = hashing_encoder.encode([f"{r['title']}\n{r['text']}" for r in records]).astype(np.float16)
    queries = ["glacier passage", "castle"]
    faiss_hits = KnowledgeBase(tmp_path / "kb", encoder=hashing_encoder).search(queries, k=3)
    kb = KnowledgeBase(tmp_path / "kb", encoder=hashing_encoder, index=BruteForceIndex(vectors))
    hits = kb.search(queries, k=3)
    assert [row[0].id for row in hits] == [row[0].id for row in faiss_hits] == ["p4", "p2"]
    # the lower ranks tie on the shared words; the scores agree whatever order a tie takes
    assert np.allclose([[h.score for h in row] for row in hits], [[h.score for h in row] for row in faiss_hits])
    with pytest.raises(DataError, match="index holds 9 vectors but its KB has 10 records"):
        KnowledgeBase(tmp_path / "kb", encoder=hashing_encoder, index=BruteForceIndex(vectors[:9]))


def test_a_build_never_holds_every_embedding_at_once(tmp_path, text_kb_file, hashing_encoder, monkeypatch):
    """Shards of 3 rows, and neither concatenation nor reading all shards into one array allowed: the index
    is built from one shard at a time, and finds what the in-memory build finds."""
    build(text_kb_file, tmp_path / "reference", hashing_encoder, tmp_path)
    expected = KnowledgeBase(tmp_path / "reference", encoder=hashing_encoder).search(["glacier passage", "castle"], k=3)

    shard_values = 3 * 256  # 3 rows of the hashing encoder's 256 dimensions

    def refuse_more_than_a_shard(join):
        def guarded(arrays, *args, **kwargs):
            if sum(np.size(array) for array in arrays) > shard_values:
                raise AssertionError("every embedding gathered into one array")
            return join(arrays, *args, **kwargs)

        return guarded

    def refuse(*args, **kwargs):
        raise AssertionError("every embedding gathered into one array")

    monkeypatch.setattr(np, "concatenate", refuse_more_than_a_shard(np.concatenate))
    monkeypatch.setattr(np, "vstack", refuse_more_than_a_shard(np.vstack))
    monkeypatch.setattr(EmbeddingShards, "__array__", refuse)
    monkeypatch.setattr(build_time, "PROBE_RECORDS", 2)  # the rate probe embeds a sample, not a shard
    spec = {"family": "text", "path": str(tmp_path / "encoder")}
    _, stats = build_kb(
        "text",
        text_kb_file,
        tmp_path / "kb",
        spec,
        IndexConfig(),
        shard_dir=tmp_path / "small",
        encoder=hashing_encoder,
        shard_size=3,
    )
    monkeypatch.undo()
    assert stats["shards_computed"] == 4
    hits = KnowledgeBase(tmp_path / "kb", encoder=hashing_encoder).search(["glacier passage", "castle"], k=3)
    assert [row[0].id for row in hits] == [row[0].id for row in expected] == ["p4", "p2"]  # lower ranks tie
    assert np.allclose([[h.score for h in row] for row in hits], [[h.score for h in row] for row in expected])

"""Resumable embedding: an interrupted run recomputes only the unfinished shards, kept in an entry per content.

Shards are float16 on disk and read back as float32, one at a time.
"""

import numpy as np
import pytest

from r1router.kb.embed import entry_dir, save_shard, shard_path

RECORDS = [{"id": str(i), "text": f"record number {i}"} for i in range(23)]


def encode_with(encoder):
    return lambda shard: encoder.encode([r["text"] for r in shard])


class Interrupted(Exception):
    pass


def test_interrupted_run_resumes_without_recomputing_finished_shards(tmp_path, hashing_encoder, embed_all):
    reference, _ = embed_all(RECORDS, encode_with(hashing_encoder), tmp_path / "ref", "fp", shard_size=5)

    calls = {"n": 0}

    def flaky(shard):
        calls["n"] += 1
        if calls["n"] == 3:  # shards 0 and 1 done, dies inside shard 2
            raise Interrupted
        return hashing_encoder.encode([r["text"] for r in shard])

    with pytest.raises(Interrupted):
        embed_all(RECORDS, flaky, tmp_path / "run", "fp", shard_size=5)
    finished = entry_dir(tmp_path / "run", "fp", 5).glob("*.npy")
    assert sorted(p.name for p in finished) == ["emb-00000.npy", "emb-00001.npy"]

    counted = {"n": 0}

    def counting(shard):
        counted["n"] += len(shard)
        return hashing_encoder.encode([r["text"] for r in shard])

    vectors, stats = embed_all(RECORDS, counting, tmp_path / "run", "fp", shard_size=5)
    assert stats == {"shards_reused": 2, "shards_computed": 3}
    assert counted["n"] == len(RECORDS) - 10
    np.testing.assert_array_equal(vectors, reference)


def test_changed_fingerprint_gets_its_own_entry_and_the_owners_old_one_goes_after_success(
    tmp_path, hashing_encoder, embed_all
):
    embed_all(RECORDS, encode_with(hashing_encoder), tmp_path, "v1", shard_size=5, owner="kb-a")
    embed_all(RECORDS, encode_with(hashing_encoder), tmp_path, "other", shard_size=5, owner="kb-b")
    _, stats = embed_all(RECORDS, encode_with(hashing_encoder), tmp_path, "v2", shard_size=5, owner="kb-a")
    assert stats == {"shards_reused": 0, "shards_computed": 5}
    assert not entry_dir(tmp_path, "v1", 5).exists()  # kb-a's previous content: pruned
    assert entry_dir(tmp_path, "other", 5).is_dir() and entry_dir(tmp_path, "v2", 5).is_dir()  # another KB's stays


def test_corrupt_shard_is_recomputed(tmp_path, hashing_encoder, embed_all):
    shards, _ = embed_all(RECORDS, encode_with(hashing_encoder), tmp_path, "fp", shard_size=5)
    reference = np.asarray(shards)  # read now: the files are about to change
    (entry_dir(tmp_path, "fp", 5) / "emb-00002.npy").write_bytes(b"garbage")
    vectors, stats = embed_all(RECORDS, encode_with(hashing_encoder), tmp_path, "fp", shard_size=5)
    assert stats == {"shards_reused": 4, "shards_computed": 1}
    np.testing.assert_array_equal(vectors, reference)


def test_shards_are_float16_on_disk_and_read_back_as_float32_one_shard_at_a_time(tmp_path, hashing_encoder, embed_all):
    shards, _ = embed_all(RECORDS, encode_with(hashing_encoder), tmp_path, "fp", shard_size=5)
    expected = hashing_encoder.encode([r["text"] for r in RECORDS])
    assert [np.load(path).dtype for path in shards.paths] == [np.float16] * 5
    assert (shards.rows, shards.dim) == (23, hashing_encoder.dim)
    blocks = list(shards.blocks())
    assert [len(block) for block in blocks] == [5, 5, 5, 5, 3]
    assert {block.dtype for block in blocks} == {np.dtype(np.float32)}
    np.testing.assert_array_equal(np.vstack(blocks), expected.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(np.vstack(blocks), expected, atol=2**-11)  # unit vectors: half a float16 ulp at 1


def test_take_gathers_rows_across_shards(tmp_path, hashing_encoder, embed_all):
    shards, _ = embed_all(RECORDS, encode_with(hashing_encoder), tmp_path, "fp", shard_size=5)
    rows = np.array([0, 4, 5, 13, 22])
    np.testing.assert_array_equal(shards.take(rows), np.asarray(shards)[rows])


def test_a_float32_shard_from_an_old_cache_is_recomputed_as_float16(tmp_path, hashing_encoder, embed_all):
    shards, _ = embed_all(RECORDS, encode_with(hashing_encoder), tmp_path, "fp", shard_size=5)
    reference = np.asarray(shards)
    old = shard_path(entry_dir(tmp_path, "fp", 5), 1)
    np.save(old, hashing_encoder.encode([r["text"] for r in RECORDS[5:10]]))  # float32, as caches held before
    shards, stats = embed_all(RECORDS, encode_with(hashing_encoder), tmp_path, "fp", shard_size=5)
    assert stats == {"shards_reused": 4, "shards_computed": 1}
    assert np.load(old).dtype == np.float16
    np.testing.assert_array_equal(np.asarray(shards), reference)


def test_save_shard_writes_the_same_bytes_from_float32_or_float16(tmp_path, hashing_encoder):
    """The Ray driver and the local run both save float32 vectors; the file must not depend on who rounds."""
    vectors = hashing_encoder.encode([r["text"] for r in RECORDS])
    save_shard(tmp_path / "a.npy", vectors)
    save_shard(tmp_path / "b.npy", vectors.astype(np.float16))
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()

"""The sharded corpus writer: shards cut at unit boundaries, byte-identical resume, refusals that protect files."""

from __future__ import annotations

import pytest

from r1router.corpus.shards import MANIFEST, PROGRESS, ShardWriter, iter_corpus, read_manifest
from r1router.errors import DataError

SETTINGS = {"format": "test", "input_sha256": "abc"}


def units(count: int) -> list[list[dict]]:
    """Unit u holds u % 3 records (some none), so shard boundaries fall between units of uneven size."""
    return [[{"id": f"u{u}-{i}", "text": f"passage {u}.{i}"} for i in range(u % 3)] for u in range(count)]


def write(out, unit_records, shard_size=4, stop_after=None):
    writer = ShardWriter(out, SETTINGS, shard_size)
    for unit, records in enumerate(unit_records):
        if writer.skip(unit):
            continue
        if stop_after is not None and unit == stop_after:
            raise KeyboardInterrupt
        writer.counts["in"] += len(records)
        writer.counts["kept"] += len(records)
        writer.add_unit(unit, records)
    return writer.finish()


def files(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_shards_hold_every_record_once_in_order_cut_between_units(tmp_path):
    data = units(20)
    manifest = write(tmp_path / "c", data)
    got = [record["id"] for _, _, record in iter_corpus(tmp_path / "c")]
    assert got == [r["id"] for unit in data for r in unit]
    assert manifest["records"] == len(got) == 19
    assert len(manifest["shards"]) > 1
    assert not (tmp_path / "c" / PROGRESS).exists()


def test_a_killed_run_resumes_to_the_same_bytes(tmp_path):
    data = units(30)
    write(tmp_path / "whole", data)
    with pytest.raises(KeyboardInterrupt):
        write(tmp_path / "killed", data, stop_after=17)
    assert (tmp_path / "killed" / PROGRESS).exists() and not (tmp_path / "killed" / MANIFEST).exists()
    resumed = ShardWriter(tmp_path / "killed", SETTINGS, 4)
    assert resumed.resume_after is not None and resumed.resume_after < 17
    write(tmp_path / "killed", data)
    assert files(tmp_path / "killed") == files(tmp_path / "whole")


def test_an_unfinished_corpus_cannot_be_read(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        write(tmp_path / "c", units(30), stop_after=20)
    with pytest.raises(DataError, match="not a finished corpus"):
        read_manifest(tmp_path / "c")


def test_other_settings_a_finished_corpus_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        write(tmp_path / "c", units(30), stop_after=20)
    with pytest.raises(DataError, match="other input or settings"):
        ShardWriter(tmp_path / "c", {**SETTINGS, "input_sha256": "other"}, 4)
    write(tmp_path / "done", units(5))
    with pytest.raises(DataError, match="already holds a finished corpus"):
        ShardWriter(tmp_path / "done", SETTINGS, 4)
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"not empty .*notes\.txt"):
        ShardWriter(user, SETTINGS, 4)
    assert (user / "notes.txt").read_text() == "mine"


def test_units_must_increase(tmp_path):
    writer = ShardWriter(tmp_path / "c", SETTINGS, 4)
    writer.add_unit(3, [])
    with pytest.raises(ValueError, match="units must increase"):
        writer.add_unit(3, [])


def test_a_key_missing_from_a_shards_first_record_is_still_a_column(tmp_path):
    writer = ShardWriter(tmp_path / "c", SETTINGS, 10)
    writer.add_unit(0, [{"id": "a", "text": "x"}, {"id": "b", "text": "y", "image": "b.jpg"}])
    writer.finish()
    assert [r for _, _, r in iter_corpus(tmp_path / "c")] == [
        {"id": "a", "text": "x", "image": None},
        {"id": "b", "text": "y", "image": "b.jpg"},
    ]

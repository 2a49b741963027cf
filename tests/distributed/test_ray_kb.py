"""KB embedding on Ray: the same KB as one process, byte for byte; a killed worker's shard alone is redone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from r1router.distributed.embed import embed_missing_shards
from r1router.distributed.engine import Engine
from r1router.errors import DataError
from r1router.kb.build import build_kb
from r1router.kb.embed import entry_dir, shard_path
from r1router.kb.index import IndexConfig

RAY = Engine("ray", workers=2)
TOPICS = ["volcano", "river", "castle", "harbour", "glacier", "desert", "forest", "canyon", "island", "lagoon"]


def kb_input(path: Path, count: int) -> Path:
    with open(path, "w") as handle:
        for i in range(count):
            topic = TOPICS[i % len(TOPICS)]
            text = f"Passage {i} is about the {topic} number {i * 7}, " + "and its long history " * (i % 5)
            handle.write(json.dumps({"id": f"p{i}", "title": f"The {topic} {i}", "text": text}) + "\n")
    return path


def kb_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.mark.slow
def test_kb_on_ray_is_the_single_process_kb(tmp_path, text_encoder_dir, ray_session):
    source = kb_input(tmp_path / "passages.jsonl", 40)
    out = tmp_path / "kb" / "text"
    spec = {"family": "text", "path": str(text_encoder_dir)}
    options = {"device": "cpu", "shard_size": 8, "replace": True}

    build_kb("text", source, out, spec, IndexConfig(), shard_dir=tmp_path / "local-shards", **options)
    single = kb_bytes(out)
    _, stats = build_kb(
        "text", source, out, spec, IndexConfig(), shard_dir=tmp_path / "ray-shards", engine=RAY, **options
    )

    assert kb_bytes(out) == single
    assert stats["shards_computed_on_ray"] == 5 and stats["shards_computed"] == 0 and stats["shards_reused"] == 5


def records(count: int) -> list[dict]:
    return [{"id": f"r{i}", "text": f"record {i} " * (1 + i % 3)} for i in range(count)]


def crashing_encoder(calls: Path, crash_at: str):
    """A factory Ray pickles by value (a closure): its encoder logs each shard it starts, and kills its own
    worker process the first time it meets the shard starting at `crash_at`."""

    def make_encode():
        import os

        import numpy as np

        def encode(batch):
            with open(calls, "a") as log:
                log.write(batch[0]["id"] + "\n")
            marker = calls.with_suffix(".crashed")
            if batch[0]["id"] == crash_at and not marker.exists():
                marker.touch()
                os._exit(1)
            return np.array([[len(r["text"]), int(r["id"][1:])] for r in batch], dtype=np.float32)

        return encode

    return make_encode


def test_a_killed_worker_has_only_its_shard_redone(tmp_path, ray_session, embed_all):
    rows = records(10)  # shards of 2: r0, r2, r4, r6, r8
    calls = tmp_path / "calls.log"
    make_encode = crashing_encoder(calls, crash_at="r4")
    cache = tmp_path / "cache"

    stats = embed_missing_shards(rows, make_encode, cache, "fp", engine=RAY, device="cpu", shard_size=2)

    started = calls.read_text().split()
    assert sorted(started) == ["r0", "r2", "r4", "r4", "r6", "r8"]  # the crashed shard twice, every other once
    assert stats == {"shards_reused": 0, "shards_computed": 5}
    vectors, local_stats = embed_all(rows, make_encode(), cache, "fp", shard_size=2)
    assert local_stats == {"shards_reused": 5, "shards_computed": 0}
    assert np.array_equal(vectors, make_encode()(rows).astype(np.float16))  # the cache holds float16


def test_finished_shards_are_not_recomputed(tmp_path, ray_session):
    rows = records(10)
    calls = tmp_path / "calls.log"
    make_encode = crashing_encoder(calls, crash_at="none")
    cache = tmp_path / "cache"
    embed_missing_shards(rows, make_encode, cache, "fp", engine=RAY, device="cpu", shard_size=2)
    shard_path(entry_dir(cache, "fp", 2), 3).unlink()  # as if the run was killed before this shard was written
    calls.unlink()

    stats = embed_missing_shards(rows, make_encode, cache, "fp", engine=RAY, device="cpu", shard_size=2)

    assert stats == {"shards_reused": 4, "shards_computed": 1}
    assert calls.read_text().split() == ["r6"]


def test_an_encoder_that_cannot_load_on_a_worker_is_the_data_error(tmp_path, ray_session):
    missing = tmp_path / "no-encoder"

    def make_encode():
        raise DataError(missing, "no such encoder directory")

    with pytest.raises(DataError, match="no such encoder directory") as raised:
        embed_missing_shards(records(4), make_encode, tmp_path / "cache", "fp", engine=RAY, device="cpu", shard_size=2)
    assert raised.value.path == str(missing)

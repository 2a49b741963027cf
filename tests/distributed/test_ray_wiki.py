"""The enwiki corpus on Ray: the single-process shards byte for byte, a local run resumed on Ray, the same errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1router.corpus import wiki
from r1router.corpus.multistream import MultistreamWriter, Page, write_multistream
from r1router.corpus.wiki import build_wiki_corpus
from r1router.distributed.engine import Engine
from r1router.errors import DataError

RAY = Engine("ray", workers=2)


def pages(count: int) -> list[Page]:
    """Articles of a few paragraphs, redirects, a list and a talk page: every filter and several windows."""
    out = []
    for i in range(1, count + 1):
        if i % 7 == 0:
            out.append(Page(i, f"Alias {i}", 0, f"Article {i - 1}", f"#REDIRECT [[Article {i - 1}]]"))
        elif i % 11 == 0:
            out.append(Page(i, f"List of things {i}", 0, None, "* one\n* two"))
        elif i % 13 == 0:
            out.append(Page(i, f"Talk:Article {i}", 1, None, "A talk page."))
        else:
            body = f"'''Article {i}''' is about [[topic {i}|a subject]] and its history, told in {i} words."
            out.append(Page(i, f"Article {i}", 0, None, "\n\n".join([body] * (1 + i % 4))))
    return out


@pytest.fixture
def dump(tmp_path) -> tuple[Path, Path]:
    return write_multistream(tmp_path / "dump.xml.bz2", tmp_path / "index.txt.bz2", pages(90), per_stream=3)


def corpus_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_wiki_corpus_on_ray_is_the_single_process_corpus(tmp_path, dump, ray_session):
    dump_path, index = dump
    options = {"index": index, "window": 20, "stride": 10, "shard_size": 25}
    single = build_wiki_corpus(dump_path, tmp_path / "single", **options)
    on_ray = build_wiki_corpus(dump_path, tmp_path / "ray", engine=RAY, **options)

    assert on_ray == single and single["records"] > 100 and len(single["shards"]) > 3
    assert corpus_bytes(tmp_path / "ray") == corpus_bytes(tmp_path / "single")


def test_a_local_run_killed_midway_resumes_on_ray(tmp_path, dump, monkeypatch, ray_session):
    dump_path, index = dump
    options = {"index": index, "window": 20, "stride": 10, "shard_size": 25}
    build_wiki_corpus(dump_path, tmp_path / "whole", **options)
    group_records = wiki._group_records

    def killed_at_unit_20(dump, group, *args):
        if group.unit == 20:
            raise KeyboardInterrupt
        return group_records(dump, group, *args)

    with monkeypatch.context() as patch:
        patch.setattr(wiki, "_group_records", killed_at_unit_20)
        with pytest.raises(KeyboardInterrupt):
            build_wiki_corpus(dump_path, tmp_path / "resumed", **options)
    build_wiki_corpus(dump_path, tmp_path / "resumed", engine=RAY, **options)

    assert corpus_bytes(tmp_path / "resumed") == corpus_bytes(tmp_path / "whole")


def test_a_malformed_stream_is_the_same_data_error_on_ray(tmp_path, ray_session):
    good = pages(6)
    dump_path, index = tmp_path / "bad.xml.bz2", tmp_path / "bad-index.txt.bz2"
    with MultistreamWriter(dump_path, index) as writer:
        writer.stream(good[:3])
        writer.stream(good[3:], xml="<page><title>broken")
    errors = []
    for engine, out in ((None, "single"), (RAY, "ray")):
        with pytest.raises(DataError) as raised:
            build_wiki_corpus(dump_path, tmp_path / out, index=index, engine=engine)
        errors.append((raised.value.path, raised.value.field, str(raised.value)))

    assert errors[0] == errors[1] and errors[0][1].startswith("stream@")

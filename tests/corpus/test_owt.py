"""Open-WikiTable corpus step: the paper's passages round-trip, every pandas layout reads the same, resume is exact."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from r1router.corpus import owt
from r1router.corpus.owt import (
    BadRow,
    build_owt_corpus,
    owt_chunks,
    parse_linearized_table,
    table_record,
)
from r1router.corpus.retrieved import retrieved_passages
from r1router.corpus.shards import iter_corpus
from r1router.errors import DataError
from r1router.kb.kinds import KINDS
from r1router.kb.kinds.table import linearize_table


def _chunk(i: int) -> dict:
    """A chunk shaped like Open-WikiTable's (WikiSQL-style table name, precomputed `flattened`)."""
    chunk = {
        "original_table_id": f"table_1_{1000 + i // 2}_{i % 2 + 1}",
        "page_title": f"Page {i}",
        "section_title": "Results",
        "caption": f"Season {i}",
        "header": ["Season", "Episode", "Title"],
        "rows": [[str(i), str(r), f"Episode {r} of {i}"] for r in range(1, 3)],
        "dataset": "wikisql",
    }
    table = {**chunk, "table_id": chunk["original_table_id"], "id": str(i)}
    chunk["flattened"] = linearize_table(table)
    return chunk


CHUNKS = [_chunk(i) for i in range(7)]


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _tar_gz(path: Path, member: str, payload: bytes) -> Path:
    """Open-WikiTable's data.tar.gz: the tables file among the question files."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in [("data/train.json", b"[]"), (member, payload)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _columns(chunks: list[dict]) -> dict:
    """pandas' `DataFrame.to_json()` default layout: columns keyed by the chunk index."""
    return {field: {str(i): chunk[field] for i, chunk in enumerate(chunks)} for field in chunks[0]}


def _shard_bytes(directory: Path, pattern: str = "*") -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob(pattern))}


def test_every_released_table_passage_round_trips(released_sample):
    """The oracle: the paper's own `tar` passages parse back into tables that linearise to the same bytes."""
    passages = []
    for line in released_sample.read_text(encoding="utf-8").splitlines():
        for step in json.loads(line)["steps"]:
            if step["step_type"] == "ans":
                passages += [p.text for p in retrieved_passages(step["problem"]) if p.tag == "tar"]
    assert len(passages) > 100
    for passage in passages:
        table = parse_linearized_table(passage)
        assert linearize_table(table) == passage
        raw = {**table, "original_table_id": table.pop("table_id")}
        record = table_record(raw, "r")
        assert record["text"] == passage
        KINDS["table"].validate(record, Path("x"), 1)


def test_parse_rejects_text_that_is_not_a_table():
    with pytest.raises(ValueError, match="markers"):
        parse_linearized_table("[Title]t[Caption]c")


@pytest.mark.parametrize("layout", ["list", "columns", "keyed", "tar.gz"])
def test_every_layout_reads_the_same_records(tmp_path, layout):
    """A list, pandas' column layout, an object of chunks and the tar.gz all give the same records and ids."""
    data = {"list": CHUNKS, "columns": _columns(CHUNKS), "keyed": {str(i): c for i, c in enumerate(CHUNKS)}}
    if layout == "tar.gz":
        source = _tar_gz(tmp_path / "data.tar.gz", "data/splitted_tables.json", json.dumps(CHUNKS).encode())
    else:
        source = _write(tmp_path / "splitted_tables.json", data[layout])
    manifest = build_owt_corpus(source, tmp_path / "out", shard_size=3)
    records = [record for _, _, record in iter_corpus(tmp_path / "out")]
    assert [r["id"] for r in records] == [str(i) for i in range(7)]
    assert [r["text"] for r in records] == [c["flattened"] for c in CHUNKS]
    assert records[0]["table_id"] == "table_1_1000_1"
    assert records[0]["rows"] == [["0", "1", "Episode 1 of 0"], ["0", "2", "Episode 2 of 0"]]
    assert manifest["counts"] == {"in": 7, "kept": 7}
    assert len(manifest["shards"]) == 3
    for record in records:
        KINDS["table"].validate(record, tmp_path / "out" / "part-00000.parquet", 1)


def test_tar_and_json_give_identical_shards(tmp_path):
    payload = json.dumps(CHUNKS).encode()
    build_owt_corpus(_write(tmp_path / "splitted_tables.json", CHUNKS), tmp_path / "a")
    build_owt_corpus(_tar_gz(tmp_path / "data.tar.gz", "splitted_tables.json", payload), tmp_path / "b")
    assert _shard_bytes(tmp_path / "a", "*.parquet") == _shard_bytes(tmp_path / "b", "*.parquet")


def test_archive_without_the_tables_file(tmp_path):
    source = _tar_gz(tmp_path / "data.tar.gz", "data/valid.json", b"[]")
    with pytest.raises(DataError, match=r"holds no splitted_tables\.json"):
        build_owt_corpus(source, tmp_path / "out")


def test_numeric_cells_keep_their_json_spelling(tmp_path):
    chunk = {**CHUNKS[0], "rows": [[12, 1.5, "x"]]}
    (chunk_read,) = owt_chunks(_write(tmp_path / "t.json", [chunk]))
    assert table_record(chunk_read.raw, "0")["rows"] == [["12", "1.5", "x"]]


def test_a_bad_row_names_file_chunk_and_row(tmp_path):
    chunks = [*CHUNKS[:3], {**CHUNKS[3], "rows": [["a", "b", "c"], ["only two", "cells"]]}, *CHUNKS[4:]]
    source = _write(tmp_path / "splitted_tables.json", chunks)
    with pytest.raises(BadRow) as caught:
        build_owt_corpus(source, tmp_path / "out")
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(source), 4, "rows[1]")
    assert "2 cells but the header has 3" in str(caught.value)


def test_bad_rows_skip_counts_and_drops_the_chunk(tmp_path):
    chunks = [*CHUNKS[:3], {**CHUNKS[3], "rows": [["a", None, "c"]]}, {**CHUNKS[4], "rows": []}, *CHUNKS[5:]]
    manifest = build_owt_corpus(_write(tmp_path / "t.json", chunks), tmp_path / "out", bad_rows="skip")
    assert manifest["counts"] == {"in": 7, "kept": 5, "dropped.bad_row": 2}
    assert [r["id"] for _, _, r in iter_corpus(tmp_path / "out")] == ["0", "1", "2", "5", "6"]


def test_a_missing_field_is_named_even_when_skipping_bad_rows(tmp_path):
    chunk = {k: v for k, v in CHUNKS[2].items() if k != "caption"}
    source = _write(tmp_path / "t.json", {"a": CHUNKS[0], "b": chunk})
    with pytest.raises(DataError) as caught:
        build_owt_corpus(source, tmp_path / "out", bad_rows="skip")
    assert (caught.value.line, caught.value.field) == (2, "caption")


def test_columns_that_disagree_on_the_chunks_are_refused(tmp_path):
    columns = _columns(CHUNKS[:2])
    columns["caption"] = {"0": "a", "5": "b"}
    with pytest.raises(DataError, match="columns list different chunks"):
        build_owt_corpus(_write(tmp_path / "t.json", columns), tmp_path / "out")


def test_malformed_json_is_a_data_error(tmp_path):
    source = tmp_path / "t.json"
    source.write_text(json.dumps(CHUNKS)[:-40], encoding="utf-8")
    with pytest.raises(DataError, match="malformed JSON"):
        build_owt_corpus(source, tmp_path / "out")


def test_differing_flattened_is_counted(tmp_path):
    chunks = [{**CHUNKS[0], "flattened": "something else"}, CHUNKS[1]]
    manifest = build_owt_corpus(_write(tmp_path / "t.json", chunks), tmp_path / "out")
    assert manifest["counts"]["flattened_differs"] == 1


def test_a_killed_run_resumes_to_identical_bytes(tmp_path, monkeypatch):
    source = _write(tmp_path / "splitted_tables.json", CHUNKS)
    build_owt_corpus(source, tmp_path / "clean", shard_size=2)

    real = owt.table_record

    def dies_at_chunk_5(raw, record_id, **kwargs):
        if record_id == "5":
            raise KeyboardInterrupt
        return real(raw, record_id, **kwargs)

    monkeypatch.setattr(owt, "table_record", dies_at_chunk_5)
    with pytest.raises(KeyboardInterrupt):
        build_owt_corpus(source, tmp_path / "resumed", shard_size=2)
    assert (tmp_path / "resumed" / "_progress.json").is_file()
    assert not (tmp_path / "resumed" / "_manifest.json").exists()
    monkeypatch.setattr(owt, "table_record", real)
    build_owt_corpus(source, tmp_path / "resumed", shard_size=2)
    assert _shard_bytes(tmp_path / "resumed") == _shard_bytes(tmp_path / "clean")

"""Bring-your-own KB validation: every bad row is named by file, line and field."""

import json

import pyarrow as pa
import pytest
from PIL import Image

from r1router.corpus.shards import ShardWriter
from r1router.errors import DataError
from r1router.io import write_parquet
from r1router.kb.kinds import get_kind, linearize_table
from r1router.kb.records import load_records


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


GOOD_TABLE = {
    "id": "t1",
    "page_title": "Velmora",
    "section_title": "Cities",
    "caption": "Largest cities",
    "header": ["city", "population"],
    "rows": [["Dorvik", "51000"], ["Amsel", "12000"]],
}


def test_text_records_load_and_bad_rows_are_located(tmp_path):
    good = {"id": "a", "title": "A", "text": "alpha"}
    assert load_records(write_jsonl(tmp_path / "ok.jsonl", [good]), get_kind("text")) == [good]
    path = write_jsonl(tmp_path / "bad.jsonl", [good, {"id": "b", "title": "B"}])
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2, field 'text': missing required field"):
        load_records(path, get_kind("text"))
    path = write_jsonl(tmp_path / "bad2.jsonl", [good, {"id": "c", "title": 3, "text": "x"}])
    with pytest.raises(DataError, match=r"line 2, field 'title': expected a string, got int"):
        load_records(path, get_kind("text"))
    path = write_jsonl(tmp_path / "dup.jsonl", [good, good])
    with pytest.raises(DataError, match=r"line 2, field 'id': duplicate id 'a' \(first on line 1\)"):
        load_records(path, get_kind("text"))


def test_table_rows_must_match_header(tmp_path):
    assert load_records(write_jsonl(tmp_path / "t.jsonl", [GOOD_TABLE]), get_kind("table"))[0]["rows"][1] == [
        "Amsel",
        "12000",
    ]
    ragged = {**GOOD_TABLE, "rows": [["Dorvik", "51000"], ["Amsel"]]}
    with pytest.raises(DataError, match=r"line 1, field 'rows\[1\]': row has 1 cells but the header has 2"):
        load_records(write_jsonl(tmp_path / "r.jsonl", [ragged]), get_kind("table"))
    numeric = {**GOOD_TABLE, "rows": [["Dorvik", 51000], ["Amsel", "1"]]}
    with pytest.raises(DataError, match=r"field 'rows\[0\]': expected strings, found int"):
        load_records(write_jsonl(tmp_path / "n.jsonl", [numeric]), get_kind("table"))
    with pytest.raises(DataError, match=r"field 'header': expected a list of strings, got str"):
        load_records(write_jsonl(tmp_path / "h.jsonl", [{**GOOD_TABLE, "header": "city"}]), get_kind("table"))


def test_table_linearisation_follows_the_paper():
    """The paper's table retriever format (its released `tar` passages); a table without an id is named by its id."""
    assert linearize_table({**GOOD_TABLE, "table_id": "table_1_2140071_12"}) == (
        "[Title]Velmora[Section title]Cities[Caption]Largest cities[Table name]table_1_2140071_12"
        "[Header]city[sep]population[Rows][Row]Dorvik[sep]51000[Row]Amsel[sep]12000"
    )
    assert "[Table name]t1[Header]" in linearize_table(GOOD_TABLE)


def test_text_records_without_a_title_are_their_text(tmp_path):
    """A corpus window already starts with its article's title: nothing is prefixed."""
    window = {"id": "w-1-0", "text": "Lure of the Swamp\n\nLure of the Swamp is a film."}
    rows = [window, {"id": "b", "title": "B", "text": "y"}]
    records = load_records(write_jsonl(tmp_path / "t.jsonl", rows), get_kind("text"))
    assert [get_kind("text").passage(r) for r in records] == [rows[0]["text"], "B\ny"]


def test_a_corpus_directory_is_a_kb_input_and_its_rows_are_located_by_shard(tmp_path):
    writer = ShardWriter(tmp_path / "corpus", {"format": "test"}, shard_size=2)
    writer.add_unit(0, [{"id": "a", "text": "alpha"}, {"id": "b", "text": "beta"}])
    writer.add_unit(1, [{"id": "a", "text": "again"}])
    writer.finish()
    duplicate = r"part-00001\.parquet, line 1, field 'id': duplicate id 'a' \(first on part-00000"
    with pytest.raises(DataError, match=duplicate):
        load_records(tmp_path / "corpus", get_kind("text"))
    unfinished = tmp_path / "unfinished"
    ShardWriter(unfinished, {"format": "test"}, shard_size=2).add_unit(0, [{"id": "a", "text": "alpha"}] * 2)
    with pytest.raises(DataError, match="not a finished corpus"):
        load_records(unfinished, get_kind("text"))


def test_image_candidates_may_have_no_image(tmp_path):
    """M-BEIR's text-only candidates: kept with their caption, no image path."""
    path = write_jsonl(tmp_path / "i.jsonl", [{"id": "c", "caption": "Marine otter."}])
    records = load_records(path, get_kind("image"))
    assert records == [{"id": "c", "caption": "Marine otter."}]


def test_image_records_need_existing_image_files(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(tmp_path / "img" / "a.png")
    rows = [{"id": "a", "image": "img/a.png", "caption": "flag"}, {"id": "b", "image": "img/b.png", "caption": "logo"}]
    with pytest.raises(DataError, match=r"line 2, field 'image': image file not found"):
        load_records(write_jsonl(tmp_path / "i.jsonl", rows), get_kind("image"))


def test_parquet_rows_are_located_by_row_number(tmp_path):
    path = tmp_path / "kb.parquet"
    write_parquet(path, pa.table({"id": ["a", ""], "title": ["A", "B"], "text": ["x", "y"]}))
    with pytest.raises(DataError, match=r"kb\.parquet, line 2, field 'id': must not be empty"):
        load_records(path, get_kind("text"))


def test_unsupported_and_empty_files(tmp_path):
    (tmp_path / "kb.csv").write_text("id\n")
    with pytest.raises(DataError, match=r"unsupported KB file type '\.csv'"):
        load_records(tmp_path / "kb.csv", get_kind("text"))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="has no records"):
        load_records(tmp_path / "empty.jsonl", get_kind("text"))

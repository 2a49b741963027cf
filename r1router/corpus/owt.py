"""Open-WikiTable's table chunks (`splitted_tables.json`) → table records for the paper's Table Retriever.

Open-WikiTable splits its 24,680 WikiSQL / WikiTableQuestions tables row-wise
into 54,282 chunks of about 100 words and ships them as `splitted_tables.json`
inside `data/data.tar.gz` (github.com/sean0042/Open_WikiTable). Each chunk has
`page_title`, `section_title`, `caption`, `header`, `rows`,
`original_table_id` and a precomputed `flattened` passage. Every reader in the
sources (Open-WikiTable's `src/dataloader.py`, R1-Router's retrieval code)
loads the file with `pandas.read_json` and indexes it by position, which
pins the top level down to one of the layouts pandas reads by default: a list
of chunk objects, or pandas' own `to_json()` layout, an object of columns
each keyed by the chunk index. The archive itself cannot be inspected here,
so all of these are read, plus an object keyed by chunk id:

- list: chunk ids are the 0-based positions (the index R1-Router's retriever
  looks passages up by; Open-WikiTable's question files count from 1, see
  `index = [i-1 for i in index]` in its dataloader);
- object of chunk objects: ids are the keys;
- object of columns: ids are the keys of the columns, which are streamed side
  by side (one reader per column) and must list the same chunks in the same order.

The file is streamed with ijson, never loaded whole, straight out of the
tar.gz when given that. A chunk is one resumable unit. Its record's `text` is
`linearize_table` of it, the passage the policy reads; where the chunk has
`flattened`, a `flattened_differs` count says how many chunks the paper's own
passage differs from ours, so a format drift cannot pass unseen.
"""

from __future__ import annotations

import gzip
import logging
import re
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from itertools import zip_longest
from pathlib import Path, PurePosixPath
from typing import IO, Any

import ijson

from r1router.corpus.shards import ShardWriter
from r1router.errors import ConfigError, DataError
from r1router.hashing import file_sha256
from r1router.kb.kinds.table import linearize_table
from r1router.progress import Progress

log = logging.getLogger(__name__)

MEMBER = "splitted_tables.json"
TEXT_FIELDS = ("page_title", "section_title", "caption", "original_table_id")
COLUMNS = ("page_title", "section_title", "caption", "header", "rows", "original_table_id", "flattened")
BAD_ROW_POLICIES = ("fail", "skip")
_PASSAGE = re.compile(
    r"\[Title\](.*?)\[Section title\](.*?)\[Caption\](.*?)\[Table name\](.*?)\[Header\](.*?)\[Rows\](.*)", re.DOTALL
)


class BadRow(DataError):
    """A chunk whose rows do not fit its header; `bad_rows="skip"` drops the chunk and counts it."""


@dataclass(frozen=True)
class Chunk:
    """One chunk as read, with where it came from so every error can point at it."""

    number: int  # 1-based position in the file: the resumable unit, and the "line" errors name
    key: str  # the chunk's own id: its key, or its 0-based position in a list
    raw: Any
    where: str  # the file, or `archive/member`


def parse_linearized_table(passage: str) -> dict[str, Any]:
    """The table behind a `linearize_table` passage: page_title, section_title, caption, table_id, header, rows.

    The inverse holds byte for byte on every released `tar` passage, but the
    format has no escaping, so some tables cannot be told apart: a field that
    itself contains a later marker (a caption holding `[Table name]`) is cut at
    the first such marker, and a cell holding `[sep]` or `[Row]` splits. An
    empty header reads as one empty column and an empty row as one empty cell
    (the shapes `TableKind` accepts), never as zero. Raises ValueError for a
    passage without the markers in order.
    """
    match = _PASSAGE.fullmatch(passage)
    if match is None:
        raise ValueError(f"not a linearised table (markers missing or out of order): {passage[:80]!r}")
    page_title, section_title, caption, table_id, header, body = match.groups()
    if body and not body.startswith("[Row]"):
        raise ValueError(f"text between [Rows] and the first [Row]: {body[:80]!r}")
    rows = [row.split("[sep]") for row in body.split("[Row]")[1:]]
    return {
        "page_title": page_title,
        "section_title": section_title,
        "caption": caption,
        "table_id": table_id,
        "header": header.split("[sep]"),
        "rows": rows,
    }


def _cells(value: Any) -> list[str] | None:
    """A header or row as strings; None unless it is a list of strings and numbers.

    JSON numbers keep their JSON spelling (ijson reads them as int or Decimal),
    so a table written with numeric cells reads as the file shows it.
    """
    if not isinstance(value, list):
        return None
    cells = []
    for cell in value:
        if isinstance(cell, str):
            cells.append(cell)
        elif isinstance(cell, int | float | Decimal) and not isinstance(cell, bool):
            cells.append(str(cell))
        else:
            return None
    return cells


def _text_field(raw: dict[str, Any], field: str, where: str | Path, line: int | None) -> str:
    if raw.get(field) is None:
        raise DataError(where, "missing required field", line=line, field=field)
    if not isinstance(raw[field], str):
        raise DataError(where, f"expected a string, got {type(raw[field]).__name__}", line=line, field=field)
    return raw[field]


def _header(raw: dict[str, Any], where: str | Path, line: int | None) -> list[str]:
    if raw.get("header") is None:
        raise DataError(where, "missing required field", line=line, field="header")
    header = _cells(raw["header"])
    if not header:
        message = f"expected a non-empty list of column names, got {raw['header']!r}"
        raise DataError(where, message, line=line, field="header")
    return header


def _rows(raw: dict[str, Any], width: int, where: str | Path, line: int | None) -> list[list[str]]:
    rows = raw.get("rows")
    if rows is None:
        raise DataError(where, "missing required field", line=line, field="rows")
    if not isinstance(rows, list):
        raise DataError(where, f"expected a list of rows, got {type(rows).__name__}", line=line, field="rows")
    if not rows:
        raise BadRow(where, "the chunk has no rows", line=line, field="rows")
    clean = []
    for i, row in enumerate(rows):
        cells = _cells(row)
        if cells is None:
            raise BadRow(where, f"expected a list of strings or numbers, got {row!r}", line=line, field=f"rows[{i}]")
        if len(cells) != width:
            message = f"row has {len(cells)} cells but the header has {width}"
            raise BadRow(where, message, line=line, field=f"rows[{i}]")
        clean.append(cells)
    return clean


def table_record(
    raw: Any, record_id: str, *, where: str | Path = "<Open-WikiTable chunk>", line: int | None = None
) -> dict[str, Any]:
    """One Open-WikiTable chunk as a table record (`id`, `text` and `TableKind`'s fields).

    Missing or mistyped fields raise DataError; rows that do not fit the header
    raise BadRow, which a build may skip. `where` and `line` locate the chunk in errors.
    """
    if not isinstance(raw, dict):
        raise DataError(where, f"expected a table chunk object, got {type(raw).__name__}", line=line)
    texts = {field: _text_field(raw, field, where, line) for field in TEXT_FIELDS}
    header = _header(raw, where, line)
    table = {
        "id": record_id,
        "page_title": texts["page_title"],
        "section_title": texts["section_title"],
        "caption": texts["caption"],
        "header": header,
        "rows": _rows(raw, len(header), where, line),
        "table_id": texts["original_table_id"],
    }
    return {"id": record_id, "text": linearize_table(table), **table}


@contextmanager
def _open_tables(path: Path) -> Iterator[tuple[IO[bytes], str]]:
    """The bytes of splitted_tables.json and its name for errors: the file itself, or streamed out of the tar."""
    if not path.is_file():
        raise DataError(path, "file not found")
    if not tarfile.is_tarfile(path):
        with open(path, "rb") as handle:
            yield handle, str(path)
        return
    with tarfile.open(path, "r|*") as archive:
        for member in archive:
            if member.isfile() and PurePosixPath(member.name).name == MEMBER:
                stream = archive.extractfile(member)
                assert stream is not None  # a regular file always has one
                yield stream, f"{path}/{member.name}"
                return
    raise DataError(path, f"the archive holds no {MEMBER}")


def _layout(path: Path) -> str:
    """`list`, `columns` (pandas' default to_json) or `keyed` (an object of chunks), from the first two JSON events."""
    with _open_tables(path) as (stream, where):
        events = ijson.parse(stream)
        try:
            _, event, _ = next(events)
            if event == "start_array":
                return "list"
            if event != "start_map":
                raise DataError(where, f"expected a JSON array or object of table chunks, got a {event}")
            _, event, key = next(events)
        except (StopIteration, ijson.JSONError) as exc:
            raise DataError(where, f"not a JSON file of table chunks ({exc or 'empty'})") from None
        return "columns" if event == "map_key" and key in COLUMNS else "keyed"


def _chunks_in_rows(path: Path, layout: str) -> Iterator[Chunk]:
    with _open_tables(path) as (stream, where):
        entries = enumerate(ijson.items(stream, "item")) if layout == "list" else ijson.kvitems(stream, "")
        for number, (key, raw) in enumerate(entries, start=1):
            yield Chunk(number, str(key), raw, where)


def _chunks_in_columns(path: Path) -> Iterator[Chunk]:
    """Zip one streaming reader per column; a column absent from the file (say `flattened`) reads as missing."""
    with ExitStack() as stack:
        readers = []
        for column in COLUMNS:
            stream, where = stack.enter_context(_open_tables(path))
            readers.append(ijson.kvitems(stream, column))
        for number, entries in enumerate(zip_longest(*readers), start=1):
            keys = {entry[0] for entry in entries if entry is not None}
            if len(keys) > 1:
                raise DataError(where, f"the columns list different chunks here: {sorted(keys)}", line=number)
            raw = {column: entry[1] for column, entry in zip(COLUMNS, entries, strict=True) if entry is not None}
            yield Chunk(number, keys.pop(), raw, where)


def owt_chunks(tables: str | Path) -> Iterator[Chunk]:
    """Every chunk of `splitted_tables.json` (or of the `data.tar.gz` holding it), in file order, streamed."""
    tables = Path(tables)
    layout = _layout(tables)
    chunks = _chunks_in_columns(tables) if layout == "columns" else _chunks_in_rows(tables, layout)
    try:
        yield from chunks
    except ijson.JSONError as exc:
        raise DataError(tables, f"malformed JSON ({exc})") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(tables, f"unreadable archive ({exc})") from None


def _chunk_records(chunk: Chunk, counts: Counter[str], bad_rows: str) -> list[dict[str, Any]]:
    """The chunk's record, or none when its rows are bad and the policy skips them."""
    counts["in"] += 1
    try:
        record = table_record(chunk.raw, chunk.key, where=chunk.where, line=chunk.number)
    except BadRow:
        if bad_rows == "fail":
            raise
        counts["dropped.bad_row"] += 1
        return []
    flattened = chunk.raw.get("flattened")
    if flattened is not None and flattened != record["text"]:
        counts["flattened_differs"] += 1
        if counts["flattened_differs"] == 1:
            log.warning("%s chunk %s: `flattened` differs from our passage %r", chunk.where, chunk.key, record["text"])
    counts["kept"] += 1
    return [record]


def build_owt_corpus(
    tables: str | Path, out_dir: str | Path, *, bad_rows: str = "fail", shard_size: int = 50_000
) -> dict[str, Any]:
    """Write Open-WikiTable's chunks as table records into `out_dir` (resuming a run there); return the manifest.

    `tables` is `splitted_tables.json` or Open-WikiTable's `data.tar.gz`.
    `bad_rows="skip"` drops chunks whose rows do not fit their header
    (`dropped.bad_row`) instead of stopping at the first.
    """
    if bad_rows not in BAD_ROW_POLICIES:
        raise ConfigError(f"bad_rows must be one of {', '.join(BAD_ROW_POLICIES)}, got {bad_rows!r}")
    tables = Path(tables)
    settings = {"format": "owt", "input_sha256": file_sha256(tables), "bad_rows": bad_rows}
    writer = ShardWriter(out_dir, settings, shard_size)
    with Progress(None, "open-wikitable", unit="chunk") as progress:
        for chunk in owt_chunks(tables):
            if not writer.skip(chunk.number):
                writer.add_unit(chunk.number, _chunk_records(chunk, writer.counts, bad_rows))
            progress.update()
    return writer.finish({"source": str(tables)})

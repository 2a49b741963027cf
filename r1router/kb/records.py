"""Reading user or world KB files into validated records.

A KB's input is one `.jsonl` / `.parquet` file, or a finished corpus directory
of Parquet shards (`r1router corpus …`, `r1router.corpus.shards`). Everything
is validated before anything is written, so a bad row stops the build with
its file (the shard), line (row) and field, and no half-built KB is left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from r1router.corpus.shards import iter_corpus
from r1router.errors import DataError
from r1router.io import iter_jsonl, read_parquet
from r1router.kb.kinds import KBKind


def _raw_records(path: Path) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    if path.is_dir():
        yield from iter_corpus(path)
        return
    for line, record in _file_records(path):
        yield path, line, record


def _file_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json"}:
        yield from iter_jsonl(path)
    elif suffix == ".parquet":
        # Parquet has no lines; the 1-based row number plays that role in errors.
        yield from enumerate(read_parquet(path).to_pylist(), start=1)
    else:
        raise DataError(path, f"unsupported KB file type '{suffix}' (use .jsonl or .parquet)")


def load_records(path: str | Path, kind: KBKind) -> list[dict[str, Any]]:
    """Validate every record of `path` (a file or a corpus directory) against `kind`; ids must be unique."""
    path = Path(path)
    records: list[dict[str, Any]] = []
    first_line: dict[str, str] = {}
    for where, line, raw in _raw_records(path):
        record = kind.validate(raw, where, line)
        if record["id"] in first_line:
            first = first_line[record["id"]]
            raise DataError(where, f"duplicate id '{record['id']}' (first on {first})", line=line, field="id")
        first_line[record["id"]] = f"{where.name} line {line}" if where != path else f"line {line}"
        records.append(record)
    if not records:
        raise DataError(path, "the KB file has no records")
    return records

"""Reading user or world KB files into validated records.

Everything is validated before anything is written, so a bad row stops the
build with its file, line and field, and no half-built KB is left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from r1router.errors import DataError
from r1router.io import iter_jsonl, read_parquet
from r1router.kb.kinds import KBKind


def _raw_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json"}:
        yield from iter_jsonl(path)
    elif suffix == ".parquet":
        # Parquet has no lines; the 1-based row number plays that role in errors.
        yield from enumerate(read_parquet(path).to_pylist(), start=1)
    else:
        raise DataError(path, f"unsupported KB file type '{suffix}' (use .jsonl or .parquet)")


def load_records(path: str | Path, kind: KBKind) -> list[dict[str, Any]]:
    """Validate every record of `path` against `kind`; ids must be unique."""
    path = Path(path)
    records: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for line, raw in _raw_records(path):
        record = kind.validate(raw, path, line)
        if record["id"] in first_line:
            raise DataError(
                path, f"duplicate id '{record['id']}' (first on line {first_line[record['id']]})", line=line, field="id"
            )
        first_line[record["id"]] = line
        records.append(record)
    if not records:
        raise DataError(path, "the KB file has no records")
    return records

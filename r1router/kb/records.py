"""Reading user or world KB files into validated records.

A KB's input is one `.jsonl` / `.parquet` file, or a finished corpus directory
of Parquet shards (`r1router corpus …`, `r1router.corpus.shards`). Everything
is validated before anything is written, so a bad row stops the build with
its file (the shard), line (row) and field, and no half-built KB is left behind.

Files a record names (an image record's `image`) are relative to the input's
base directory (`records_base_dir`): a KB file's own directory, or for a
corpus directory the `image_root` its manifest records (`r1router corpus
mbeir --images ROOT` keeps its images where they are, outside the corpus).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from r1router.corpus.shards import MANIFEST, iter_corpus, read_manifest
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


def records_base_dir(path: str | Path) -> Path:
    """Where the relative file paths of `path`'s records start: its `image_root` for a corpus, else its directory."""
    path = Path(path)
    if not path.is_dir():
        return path.parent
    image_root = read_manifest(path).get("image_root")
    if image_root is None:
        return path
    base = path / str(image_root)  # written absolute; a relative one is taken from the corpus directory
    if not isinstance(image_root, str) or not base.is_dir():
        raise DataError(path / MANIFEST, f"image root {base} is not a directory", field="image_root")
    return base


def load_records(path: str | Path, kind: KBKind, max_passage_words: int | None = None) -> list[dict[str, Any]]:
    """Validate every record of `path` (a file or a corpus directory) against `kind`; ids must be unique.

    A passage over `max_passage_words` is refused by line: one oversized record
    (a whole book in one line) would otherwise be tokenised, embedded and
    stored whole, at gigabytes of memory, and still be a useless hit.
    """
    path = Path(path)
    base_dir = records_base_dir(path)
    records: list[dict[str, Any]] = []
    first_line: dict[str, str] = {}
    for where, line, raw in _raw_records(path):
        record = kind.validate(raw, where, line, base_dir)
        if max_passage_words is not None and (words := len(kind.passage(record).split())) > max_passage_words:
            raise DataError(
                where,
                f"passage of {words} words is over max_passage_words={max_passage_words}: split it into "
                "passages (the corpus steps cut 100-word windows), or raise the limit",
                line=line,
            )
        if record["id"] in first_line:
            first = first_line[record["id"]]
            raise DataError(where, f"duplicate id '{record['id']}' (first on {first})", line=line, field="id")
        first_line[record["id"]] = f"{where.name} line {line}" if where != path else f"line {line}"
        records.append(record)
    if not records:
        raise DataError(path, "the KB file has no records")
    return records

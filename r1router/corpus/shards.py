"""Sharded, resumable Parquet output for the corpus steps, and the reader `kb build` uses.

A corpus step walks its input in a fixed order of *units* (a bz2 stream of the
dump, a table chunk, a pool line) and hands each unit's records to a
`ShardWriter`. Shards are cut only at unit boundaries; each finished shard is
written atomically and then the progress file records the cursor of the last
unit it holds and the counters so far. A killed run reopens the directory,
skips every unit up to that cursor, and, because units and their records come
in the same order, writes the same bytes as an uninterrupted run; a kill loses
at most the work of the shard being filled.

Layout of a corpus directory::

    part-00000.parquet …   the records (`id`, `text` and the kind's own fields)
    _progress.json         while running: shards done, last unit, counters
    _manifest.json         at the end: shards with their sha256, counts, settings

A directory without `_manifest.json` is unfinished: `read_corpus` refuses it,
so no KB is built from half a corpus.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from r1router.errors import DataError
from r1router.hashing import file_sha256
from r1router.io import read_parquet, write_json, write_parquet

MANIFEST = "_manifest.json"
PROGRESS = "_progress.json"
SHARD_GLOB = "part-*.parquet"


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _table(records: list[dict[str, Any]]) -> pa.Table:
    """Every key of any record is a column (pyarrow would take the first record's keys and drop the rest)."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    return pa.Table.from_pylist([{key: record.get(key) for key in columns} for record in records])


class ShardWriter:
    """Collect records unit by unit; write a shard when `shard_size` records are buffered.

    `settings` identify the run (input hash, format, params): reopening a
    directory written with other settings is refused instead of mixing two
    corpora's shards. A directory holding files this writer did not create is
    refused too, so `--out` can never delete or overwrite a user's files.
    """

    def __init__(self, out_dir: str | Path, settings: dict[str, Any], shard_size: int):
        if shard_size < 1:
            raise DataError(out_dir, f"shard_size must be at least 1, got {shard_size}")
        self.out_dir = Path(out_dir)
        self.settings = json.loads(json.dumps(settings))  # as the progress file will hold them (tuples → lists)
        self.shard_size = shard_size
        self.counts: Counter[str] = Counter()  # in, kept, dropped.<reason>, …
        self._buffer: list[dict[str, Any]] = []
        self._shards: list[str] = []
        self._rows = 0  # records in the written shards: the manifest's count, whatever a producer calls "kept"
        self._last_unit: int | None = None
        self._resume_from: int | None = None
        self._open()

    def _open(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        names = {p.name for p in self.out_dir.iterdir()}
        if MANIFEST in names:
            raise DataError(self.out_dir, f"already holds a finished corpus ({MANIFEST}); choose another --out")
        foreign = sorted(n for n in names if n != PROGRESS and not (n.startswith("part-") and n.endswith(".parquet")))
        foreign = [n for n in foreign if not n.startswith(".part-")]  # an atomic write's leftover temp file
        if foreign:
            raise DataError(self.out_dir, f"is not empty and not a corpus in progress (holds {', '.join(foreign[:5])})")
        if PROGRESS not in names:
            if any(n.startswith("part-") for n in names):
                raise DataError(self.out_dir, "holds shards but no progress file; remove it or choose another --out")
            return
        progress = json.loads((self.out_dir / PROGRESS).read_text(encoding="utf-8"))
        if progress["settings"] != self.settings:
            raise DataError(
                self.out_dir / PROGRESS, "a corpus in progress with other input or settings; choose another --out"
            )
        self._shards = progress["shards"]
        self._rows = progress["rows"]
        self._last_unit = progress["last_unit"]
        self._resume_from = self._last_unit
        self.counts = Counter(progress["counts"])
        for stray in names - set(self._shards) - {PROGRESS}:  # a shard written after the last progress update
            (self.out_dir / stray).unlink()

    @property
    def resume_after(self) -> int | None:
        """The last unit whose records are already in a shard; the producer skips units up to it."""
        return self._resume_from

    def skip(self, unit: int) -> bool:
        return self._resume_from is not None and unit <= self._resume_from

    def add_unit(self, unit: int, records: list[dict[str, Any]]) -> None:
        """All records of one unit (possibly none); units must come in increasing order."""
        if self._last_unit is not None and unit <= self._last_unit:
            raise ValueError(f"unit {unit} after unit {self._last_unit}: units must increase")
        self._buffer.extend(records)
        self._last_unit = unit
        if len(self._buffer) >= self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            name = shard_name(len(self._shards))
            write_parquet(self.out_dir / name, _table(self._buffer))
            self._shards.append(name)
            self._rows += len(self._buffer)
            self._buffer = []
        write_json(
            self.out_dir / PROGRESS,
            {
                "settings": self.settings,
                "shards": self._shards,
                "rows": self._rows,
                "last_unit": self._last_unit,
                "counts": self.counts,
            },
        )

    def finish(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write the last shard and the manifest; return the manifest."""
        self._flush()
        shards = [{"name": n, "sha256": file_sha256(self.out_dir / n)} for n in self._shards]
        manifest = {
            "settings": self.settings,
            "shards": shards,
            "records": self._rows,
            "counts": dict(sorted(self.counts.items())),
            **(extra or {}),
        }
        write_json(self.out_dir / MANIFEST, manifest)
        (self.out_dir / PROGRESS).unlink()
        return manifest


def read_manifest(corpus_dir: str | Path) -> dict[str, Any]:
    path = Path(corpus_dir) / MANIFEST
    if not path.is_file():
        raise DataError(corpus_dir, f"not a finished corpus directory (no {MANIFEST}; did `r1router corpus` complete?)")
    return json.loads(path.read_text(encoding="utf-8"))


def iter_corpus(corpus_dir: str | Path) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """(shard file, 1-based row, record) for every record of a finished corpus, in shard order."""
    corpus_dir = Path(corpus_dir)
    for shard in read_manifest(corpus_dir)["shards"]:
        path = corpus_dir / shard["name"]
        for row, record in enumerate(read_parquet(path).to_pylist(), start=1):
            yield path, row, record


def corpus_sha256(corpus_dir: str | Path) -> str:
    """The corpus's content fingerprint: its manifest names every shard's hash."""
    return file_sha256(Path(corpus_dir) / MANIFEST)

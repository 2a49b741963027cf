"""Parquet I/O with atomic writes and a clear error for truncated files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from r1router.errors import DataError
from r1router.io.atomic import atomic_path


def write_parquet(target: str | Path, table: pa.Table) -> None:
    with atomic_path(target, suffix=".parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet file; a missing or corrupt one is a DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(path, f"not a readable Parquet file ({exc})") from None

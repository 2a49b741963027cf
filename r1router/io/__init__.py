"""Crash-safe reading and writing of the pipeline's files."""

from r1router.io.atomic import atomic_dir, atomic_path, write_bytes, write_json, write_jsonl, write_text
from r1router.io.jsonl import iter_jsonl, read_jsonl
from r1router.io.parquet import read_parquet, write_parquet

__all__ = [
    "atomic_dir",
    "atomic_path",
    "iter_jsonl",
    "read_jsonl",
    "read_parquet",
    "write_bytes",
    "write_json",
    "write_jsonl",
    "write_parquet",
    "write_text",
]

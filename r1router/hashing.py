"""Content fingerprints: what caches and lineage key on, never timestamps."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(path: str | Path, exclude: frozenset[str] = frozenset()) -> str:
    """Hash of every file's relative path and content under `path` (or of the file itself).

    Files named in `exclude` are left out (e.g. a stamp that records this very hash).
    """
    root = Path(path)
    if root.is_file():
        return file_sha256(root)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in exclude):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(file_sha256(file).encode())
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

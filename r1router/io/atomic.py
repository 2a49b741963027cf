"""Atomic writes: a reader (or a `kill -9`) only ever sees the old file or the new one.

Everything is written to a temporary sibling in the same directory, flushed and
fsynced, then renamed over the target; `os.replace` is atomic on POSIX within
one filesystem, which is why the temporary file must live beside the target.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` on success.

    On an exception the temporary file is removed and `target` is untouched.
    `suffix` keeps the extension for writers that look at it (pyarrow, PIL).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o666 & ~_umask())  # mkstemp makes it 0600; the result should look like any other file
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Build a whole directory in a temporary sibling and swap it in at the end.

    Used for multi-file artifacts (a saved model, a KB index) so that a crash
    never leaves a directory holding half of the new files and half of the old.
    """
    target = Path(os.path.abspath(target))  # `.` has no name and is its own parent: the sibling must be a real one
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _widen_private_modes(tmp)
        backup = None
        if target.exists():
            backup = target.with_name(f".{target.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(target, backup)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _widen_private_modes(tree: Path) -> None:
    """Give owner-only entries (libraries that save through mkstemp, e.g. safetensors) the umask's modes.

    A saved model or KB is shared output like any other file: a 0600
    `model.safetensors` is unreadable to the colleague or the service account
    that reads the checkout.
    """
    umask = _umask()
    for path in (tree, *tree.rglob("*")):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o077 == 0:
            executable = path.is_dir() or mode & 0o100
            path.chmod((0o777 if executable else 0o666) & ~umask)


def write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | Path, obj: Any) -> None:
    """Write pretty, key-sorted JSON so that identical content is byte-identical."""
    write_text(target, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_jsonl(target: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line; return the number of records written."""
    count = 0
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count

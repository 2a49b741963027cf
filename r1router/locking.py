"""One pipeline run per checkout: a non-blocking `flock` on `.r1router.lock` in the repo root.

Two runs on one checkout would overwrite each other's outs and dvc.lock, so the
second one is refused at once, with the holder's pid, start time and command.

Why `flock`: the kernel drops the lock when the holder's last file descriptor
closes, so a holder killed with SIGKILL leaves no stale lock behind; the file's
content (who holds it) is only information, never the lock itself.

A pipeline run's own processes must not refuse each other (`r1router repro`
→ `dvc repro` → `python -m flows.kb`). The holder puts a random token in its
environment (`R1ROUTER_LOCK_TOKEN`) and in the lock file; a process that
finds the lock taken and carries the same token is part of the holder's run
and goes ahead without locking again. `r1router repro` also hands its
descriptor to `dvc repro` (`pass_fds`), so the lock lives as long as any
process of the run does, even when the process that took it is killed first.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from r1router.errors import R1RouterError

LOCK_FILE = ".r1router.lock"
TOKEN_ENV = "R1ROUTER_LOCK_TOKEN"


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as written into the lock file."""

    pid: int
    started: str
    command: str
    token: str


@dataclass(frozen=True)
class PipelineLock:
    """The lock as seen by one process: `acquired` is False when it rides on its parent's lock."""

    path: Path
    holder: Holder
    acquired: bool
    fd: int | None


class PipelineLocked(R1RouterError):
    """Another pipeline run holds this checkout."""

    def __init__(self, path: Path, holder: Holder | None):
        self.path = path
        self.holder = holder
        if holder is None:
            who = "a process that has not written its details yet"
        else:
            alive = "" if pid_alive(holder.pid) else " (no longer running; its child processes still hold the lock)"
            who = f"pid {holder.pid}{alive}, started {holder.started}, command: {holder.command}"
        super().__init__(
            f"{path}: another pipeline run holds this checkout: {who}. "
            "Wait for it to finish or stop it; two runs at once would overwrite each other's outputs."
        )


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (a zombie counts until it is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(path: Path) -> Holder | None:
    """The holder recorded in the lock file, or None when it is empty or unreadable (being written)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "null")
        return Holder(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def _write_holder(fd: int, holder: Holder) -> None:
    data = (json.dumps(asdict(holder)) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def pipeline_lock(root: str | Path = ".", command: str | None = None) -> Iterator[PipelineLock]:
    """Hold the checkout's pipeline lock for the block, or raise `PipelineLocked` at once.

    Inside the block `R1ROUTER_LOCK_TOKEN` is set, so child processes (and
    nested calls in this process) are let through rather than refused.
    """
    path = Path(root).resolve() / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    if not _try_lock(fd):
        os.close(fd)
        holder = read_holder(path)
        token = os.environ.get(TOKEN_ENV)
        if holder is None or not token or not secrets.compare_digest(token, holder.token):
            raise PipelineLocked(path, holder)
        yield PipelineLock(path, holder, acquired=False, fd=None)
        return
    holder = Holder(
        pid=os.getpid(),
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        command=command or " ".join(sys.argv),
        token=secrets.token_hex(16),
    )
    previous = os.environ.get(TOKEN_ENV)
    try:
        _write_holder(fd, holder)
        os.environ[TOKEN_ENV] = holder.token
        yield PipelineLock(path, holder, acquired=True, fd=fd)
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous
        os.ftruncate(fd, 0)
        os.close(fd)

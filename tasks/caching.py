"""Cache policy for tasks that produce files.

Prefect's cache key here is the task's inputs (params and the content hashes
of input files, passed in as arguments) plus its source and the source of the
core code it calls. A cached *result* is only useful while the files it
describes are still there and unchanged, because `dvc repro` deletes a
stage's outputs before running it: each output directory therefore carries a
stamp of its own content, and a task whose outputs fail that check runs with
`refresh_cache=True`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prefect.cache_policies import INPUTS, TASK_SOURCE

from r1router.codedeps import stage_code
from r1router.dvcfile import load_stages, stage_named
from r1router.hashing import file_sha256, text_sha256, tree_sha256

STAMP = ".r1router-stamp"
ROOT = Path(__file__).resolve().parent.parent
CACHE_POLICY = INPUTS + TASK_SOURCE


def _content_hash(directory: Path) -> str:
    return tree_sha256(directory, exclude=frozenset({STAMP}))


def write_stamp(directory: str | Path) -> None:
    """Record the content of a finished output directory (called by the task that wrote it)."""
    directory = Path(directory)
    (directory / STAMP).write_text(_content_hash(directory) + "\n")


def outputs_intact(directories: Iterable[str | Path]) -> bool:
    """True when every output directory exists and matches its stamp."""
    for directory in map(Path, directories):
        stamp = directory / STAMP
        if not stamp.is_file() or stamp.read_text().strip() != _content_hash(directory):
            return False
    return True


def code_version(stage: str, root: Path = ROOT) -> str:
    """Hash of the project code `stage` runs: its flow's import closure (`r1router.codedeps`).

    TASK_SOURCE sees only the task wrapper. dvc.yaml's code deps are checked to
    be the same set (`r1router deps --check`), so the cache key and DVC's
    re-run decision cover the same code: editing a file DVC would re-run the
    stage for also invalidates the stage's cached task results.
    """
    root = Path(root).resolve()
    files = stage_code(stage_named(load_stages(root), stage, root).module, root)
    return text_sha256("".join(f"{f}:{file_sha256(root / f)}" for f in files))


def input_version(*paths: str | Path) -> str:
    """Content hash of input files/directories, so the cache keys on data, not on timestamps."""
    parts = []
    for path in map(Path, paths):
        if path.is_dir():
            parts.append(f"{path}:{_content_hash(path)}")
        elif path.is_file():
            parts.append(f"{path}:{file_sha256(path)}")
        else:
            parts.append(f"{path}:missing")
    return text_sha256("\n".join(parts))


def run_cached(task: Any, outputs: Iterable[str | Path], **kwargs: Any) -> Any:
    """Call `task`, bypassing its cached result when its outputs are gone or changed."""
    return task.with_options(refresh_cache=not outputs_intact(outputs))(**kwargs)

"""Task: one corpus build, resumable in a persisted work directory, then linked into the stage's output."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from prefect import task

from r1router.corpus.builds import corpus_counts, run_build
from r1router.distributed.engine import Engine
from r1router.hashing import text_sha256
from r1router.io import atomic_dir
from tasks.caching import CACHE_POLICY, write_stamp


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link (else copy) a finished build into the output, so a 20 GB corpus is not written twice."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


@task(
    name="corpus-build",
    cache_policy=CACHE_POLICY - "distributed",
    persist_result=True,
    timeout_seconds=7 * 24 * 3600,
)
def corpus_build_task(
    name: str,
    spec: dict[str, Any],
    out_dir: str,
    work_root: str,
    data: str,
    code: str,
    distributed: dict[str, Any] | None = None,
) -> dict:
    """Build `name` in `work_root/<name>-<spec hash>` (where a killed run resumes), then swap it into `out_dir`;
    return its counts.

    DVC deletes a stage's outputs before it runs, so the resumable state lives
    in the persisted work directory; `data` (the inputs' content hash) and `code` key the cache only.
    `distributed` (the stage's engine, `r1router.distributed`) is left out of the key: every engine
    writes the same bytes, and a run on one resumes on the other.
    """
    work = Path(work_root) / f"{name}-{text_sha256(repr(sorted(spec.items())) + data)[:12]}"
    if not (work / "_done").is_file():
        run_build(spec, work, Engine.from_params(distributed))
        (work / "_done").touch()
    with atomic_dir(out_dir) as tmp:
        shutil.rmtree(tmp)
        _link_tree(work, tmp)
        (tmp / "_done").unlink()
        write_stamp(tmp)
    return corpus_counts(Path(out_dir))

"""Task: build the offline demo world."""

from __future__ import annotations

from prefect import task

from r1router.io import atomic_dir
from r1router.world.build import build_world
from tasks.caching import CACHE_POLICY, write_stamp


@task(name="build-world", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=3600)
def build_world_task(out_dir: str, seed: int, size: str, code: str) -> dict:
    """Build into a temporary directory and swap it in, so no run leaves a half world.

    `code` is part of the cache key only: it changes when the generator's source does.
    """
    with atomic_dir(out_dir) as tmp:
        counts = build_world(tmp, seed=seed, size=size)
        write_stamp(tmp)
    return counts

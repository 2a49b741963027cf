"""Task: build the world the pipeline reads: the generated demo world, the release profile's questions, or the
paper's benchmarks with their images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from r1router.benchmarks.paper_world import build_paper_world
from r1router.corpus.release_questions import build_release_world
from r1router.errors import ConfigError
from r1router.io import atomic_dir
from r1router.world.build import build_world
from tasks.caching import CACHE_POLICY, write_stamp

WORLD_KINDS = ("generated", "release", "paper")


@task(name="build-world", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=3600)
def build_world_task(out_dir: str, settings: dict[str, Any], data: str, code: str) -> dict:
    """Build into a temporary directory and swap it in, so no run leaves a half world.

    `data` (the input's content hash) and `code` are part of the cache key only.
    """
    kind = settings.get("kind", "generated")
    if kind not in WORLD_KINDS:
        raise ConfigError(f"world.kind '{kind}' is not one of {', '.join(WORLD_KINDS)}")
    with atomic_dir(out_dir) as tmp:
        if kind == "paper":
            counts = build_paper_world(
                tmp,
                benchmarks=settings["benchmarks"],
                train=settings.get("train"),
                salt=settings.get("salt", ""),
                on_missing_images=settings.get("on_missing_images", "record"),
            )
        elif kind == "release":
            counts = build_release_world(
                Path(settings["trajectories"]), tmp, test_fraction=settings["test_fraction"], salt=settings["salt"]
            )
        else:
            counts = build_world(tmp, seed=settings["seed"], size=settings["size"])
        write_stamp(tmp)
    return counts

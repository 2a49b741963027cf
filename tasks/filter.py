"""Task: filter synthesised trajectories and write the step rows (train and held-out)."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from r1router.training.filtering import FilterConfig, filter_trajectories, write_step_dir
from r1router.training.synthesis import read_synthesized
from tasks.caching import CACHE_POLICY, write_stamp


@task(name="filter", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=3600)
def filter_task(trajectories: str, out_dir: str, settings: dict, data: str, code: str) -> dict:
    """`data` (the trajectories' content hash) and `code` key the cache; they are not used otherwise."""
    result = filter_trajectories(read_synthesized(trajectories), FilterConfig(**settings))
    write_step_dir(result, Path(out_dir))
    write_stamp(out_dir)
    return result.report

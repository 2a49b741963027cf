"""Task: materialise one model from its source spec (downloads retry with backoff)."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from r1router.models.pull import pull_model
from tasks.caching import CACHE_POLICY, write_stamp


@task(
    name="pull-model",
    cache_policy=CACHE_POLICY,
    persist_result=True,
    retries=3,
    retry_delay_seconds=[10, 30, 90],
    timeout_seconds=3600,
)
def pull_model_task(name: str, spec: dict, models_dir: str, code: str) -> dict:
    manifest = pull_model(name, spec, Path(models_dir))
    write_stamp(Path(models_dir) / name)
    return manifest

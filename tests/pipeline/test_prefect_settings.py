"""Prefect settings the flows apply on their own: state under the repo, and a timeout on every task."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from prefect import Task

import tasks

SHOW = (
    "import flows; from prefect.settings import get_current_settings as s; "
    "c = s(); print(flows.__file__, c.home, c.results.local_storage_path)"
)


def _settings(tmp_path: Path, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    proc = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return proc.stdout.split()


def test_prefect_home_and_results_default_to_the_repo_not_the_users_home(tmp_path):
    """Run from elsewhere with no PREFECT_* set, as `python -m flows.x` outside make would be."""
    flows_file, home, storage = _settings(tmp_path)
    repo = Path(flows_file).parents[1]  # the checkout the code runs from
    assert (home, storage) == (str(repo / ".prefect"), str(repo / ".prefect" / "storage"))


def test_an_explicit_prefect_home_wins(tmp_path):
    home = tmp_path / "elsewhere"
    assert _settings(tmp_path, PREFECT_HOME=str(home))[1] == str(home)


def _all_tasks() -> list[Task]:
    modules = [f"tasks.{m.name}" for m in pkgutil.iter_modules(tasks.__path__)] + ["flows.refresh"]
    found = []
    for name in modules:
        module = importlib.import_module(name)
        found += [obj for obj in vars(module).values() if isinstance(obj, Task) and obj.__module__ == name]
    return found


def test_every_task_has_a_timeout_and_downloads_retry_with_backoff():
    found = {task.name: task for task in _all_tasks()}
    assert {"build-world", "pull-model", "build-kb", "fetch-source", "fingerprint-source"} <= set(found)
    assert [name for name, task in found.items() if not task.timeout_seconds] == []
    for name in ("pull-model", "fetch-source", "fingerprint-source"):
        delays = found[name].retry_delay_seconds
        assert found[name].retries >= 2 and isinstance(delays, list) and delays == sorted(delays) and delays[0] > 0

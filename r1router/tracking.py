"""MLflow runs for pipeline stages, against a SQLite store inside the repo.

Every stage gets a run tagged with the code version and a hash of its params,
so a number in the MLflow UI can be traced back to what produced it. A stage
that raises leaves its run FAILED with the traceback as an artifact, never
RUNNING.
"""

from __future__ import annotations

import json
import os
import subprocess
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from r1router.hashing import text_sha256

EXPERIMENT = "r1router"


def tracking_uri(root: Path = Path(".")) -> str:
    """`MLFLOW_TRACKING_URI` if set, else `sqlite:////abs/path/mlflow.db` (four slashes: absolute)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root / 'mlflow.db').resolve()}"


def git_state(root: Path = Path(".")) -> dict[str, str]:
    """Commit and dirtiness of the checkout, or 'unknown' outside a git repo."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(bool(dirty)).lower()}


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params as MLflow's flat `a.b.c` keys (values stringified, truncated to MLflow's limit)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = json.dumps(value) if not isinstance(value, str) else value
    return {k: v[:6000] for k, v in flat.items()}


def params_hash(params: Mapping[str, Any]) -> str:
    return text_sha256(json.dumps(params, sort_keys=True, default=str))[:16]


@contextmanager
def stage_run(
    stage: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None, root: Path = Path(".")
) -> Iterator[Any]:
    """Open an MLflow run for one stage; yield the `mlflow` module for logging inside it."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=(root / "mlartifacts").resolve().as_uri())
    mlflow.set_experiment(EXPERIMENT)
    all_tags = {"stage": stage, "params_hash": params_hash(params), **git_state(root), **(tags or {})}
    with mlflow.start_run(run_name=stage, tags=all_tags):
        mlflow.log_params(flatten(params))
        try:
            yield mlflow
        except BaseException:
            mlflow.log_text(traceback.format_exc(), "error.txt")
            mlflow.end_run(status="FAILED")
            raise

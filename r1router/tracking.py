"""MLflow runs for pipeline stages, against a SQLite store inside the repo.

Every stage gets a run tagged with the code version, a hash of its params and
the DVC hashes of what it read and wrote (`r1router.lineage`), so a number in
the MLflow UI can be traced back to what produced it. A pipeline run
(`r1router repro`) is one parent run; stage processes find it through
`R1ROUTER_PARENT_RUN_ID` and become its children.

Made for reviewers browsing the MLflow UI: the experiment opens on its runs
(not MLflow 3's GenAI traces page), a stage's data deps are its run's dataset
inputs with DVC's hashes as digests (the Datasets column), and artifacts live
at `mlflow-artifacts:` URIs resolved against `mlartifacts/` beside the store,
so a moved or cloned checkout (or `mlflow server --artifacts-destination`)
still finds them.

A run that raises, or whose process gets SIGINT/SIGTERM/SIGHUP, ends FAILED
with the traceback as the artifact `error.txt`, never RUNNING. Only SIGKILL
cannot be caught: `close_orphaned_runs` ends such runs FAILED afterwards, once
their process is gone.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from r1router import lineage
from r1router.codedeps import is_code_dep
from r1router.dvcfile import inside, is_dvc_project, load_stages
from r1router.errors import ConfigError
from r1router.hashing import text_sha256
from r1router.locking import PipelineLock, pid_alive, pipeline_lock

log = logging.getLogger(__name__)

EXPERIMENT = "r1router"
ARTIFACT_DIR = "mlartifacts"  # beside the store, where `mlflow server` keeps proxied artifacts by default
# `mlflow-artifacts:` URIs name a path under the artifact root, not a machine path, so a moved checkout keeps them.
ARTIFACT_LOCATION = f"mlflow-artifacts:/{EXPERIMENT}"
# The tag MLflow 3's UI reads to open an experiment on its runs instead of the GenAI traces page.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
DEP_CONTEXT = "dvc.dep"  # the context a stage's data deps carry in MLflow's Datasets column
PARENT_RUN_ENV = "R1ROUTER_PARENT_RUN_ID"
ERROR_ARTIFACT = "error.txt"
MAX_TAG_CHARS = 5000  # under MLflow's limit on a tag value


def tracking_uri(root: Path = Path(".")) -> str:
    """`MLFLOW_TRACKING_URI` if set, else `sqlite:////abs/path/mlflow.db` (four slashes: absolute)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root / 'mlflow.db').resolve()}"


def git_state(root: Path = Path(".")) -> dict[str, str]:
    """Commit of the checkout and whether its code or params differ from it; 'unknown' outside git.

    Files that DVC itself writes (`dvc.lock`, every stage's outs, metrics and
    plots) do not count: a pipeline run changes them, and counting them marked
    every stage of a run from a clean commit dirty, so the tag told nothing. When
    something else differs, `git_dirty_paths` names it.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "diff", "--name-only", "--no-renames", "--relative", "-z", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    written = _dvc_written(root)
    edited = sorted(path for path in changed if path and not any(inside(path, out) for out in written))
    state = {"git_commit": commit, "git_dirty": str(bool(edited)).lower()}
    if edited:
        state["git_dirty_paths"] = ",".join(edited)[:MAX_TAG_CHARS]
    return state


def _dvc_written(root: Path) -> tuple[str, ...]:
    """The paths a `dvc repro` writes in `root`: dvc.lock and every out of dvc.yaml (none outside DVC)."""
    if not is_dvc_project(root):
        return ()
    return (lineage.LOCK_FILE, *(out for stage in load_stages(root).values() for out in stage.outs))


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


def store_artifact_repository(
    artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
) -> Any:
    """The artifact repository for an `mlflow-artifacts:` URI: `mlartifacts/` beside a SQLite store, else MLflow's.

    `mlflow server --backend-store-uri sqlite:///mlflow.db` (and `mlflow ui`), run
    from the checkout, serves `mlflow-artifacts:/P` from `./mlartifacts/P`; this is
    the same mapping for processes that write to the store directly, which MLflow's
    own repository refuses (it needs an HTTP tracking server). Runs, logged models
    and registered versions so hold no absolute path, and a copied checkout's
    store finds its own artifacts.
    """
    import mlflow
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository
    from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

    store = tracking_uri or mlflow.get_tracking_uri()
    if not store.startswith("sqlite:///"):
        return MlflowArtifactsRepository(artifact_uri, tracking_uri, registry_uri)
    root = Path(store.removeprefix("sqlite:///")).resolve().parent / ARTIFACT_DIR
    local = root / urlparse(artifact_uri).path.lstrip("/")
    return LocalArtifactRepository(local.as_uri(), tracking_uri, registry_uri)


def _map_artifacts_beside_store() -> None:
    """Route `mlflow-artifacts:` URIs through `store_artifact_repository` in this process (MLflow's plugin registry)."""
    from mlflow.store.artifact.artifact_repository_registry import _artifact_repository_registry

    _artifact_repository_registry.register("mlflow-artifacts", store_artifact_repository)


def use_store(root: Path = Path(".")) -> str:
    """Point MLflow at the project's store and experiment; return the experiment id.

    A new experiment keeps its artifacts at `ARTIFACT_LOCATION` (relative to the
    store, see `store_artifact_repository`) and opens on its runs in the UI.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    _map_artifacts_beside_store()
    mlflow.set_tracking_uri(tracking_uri(root))
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        with suppress(MlflowException):  # another process may have created it in between
            mlflow.create_experiment(EXPERIMENT, artifact_location=ARTIFACT_LOCATION, tags=EXPERIMENT_KIND)
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if not experiment.artifact_location.startswith("mlflow-artifacts:"):
        log.warning(
            "experiment '%s' keeps artifacts at %s, an absolute path that a moved checkout loses; "
            "move mlflow.db and %s aside to start a store with relative artifact locations",
            EXPERIMENT,
            experiment.artifact_location,
            ARTIFACT_DIR,
        )
    mlflow.set_experiment(experiment_id=experiment.experiment_id)
    return experiment.experiment_id


def process_tags(root: Path = Path(".")) -> dict[str, str]:
    """Which checkout, host and process own a run: what `close_orphaned_runs` checks."""
    return {
        "r1router.checkout": str(root.resolve()),
        "r1router.host": socket.gethostname(),
        "r1router.pid": str(os.getpid()),
    }


class Terminated(SystemExit):
    """SIGTERM/SIGHUP as an exception, so cleanup runs; exits 128+signal like the default action."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"terminated by {signal.Signals(self.signum).name}"


def _raise_terminated(signum: int, _frame: Any) -> None:
    raise Terminated(signum)


@contextmanager
def termination_raises() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise `Terminated` instead of killing the process outright.

    Only where nobody installed a handler already (Prefect's flow engine raises
    its own `TerminationSignal`) and only in the main thread (Python's rule).
    """
    installed: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) is signal.SIG_DFL:
                installed[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in installed.items():
            signal.signal(signum, handler)


def _start_run(mlflow: Any, name: str, tags: dict[str, str]) -> Any:
    """Start a run under this process's active run, else under `R1ROUTER_PARENT_RUN_ID`, else top-level."""
    if mlflow.active_run() is not None:
        return mlflow.start_run(run_name=name, nested=True, tags=tags)
    from mlflow.exceptions import MlflowException

    parent = os.environ.get(PARENT_RUN_ENV)
    if parent:
        try:
            mlflow.MlflowClient().get_run(parent)
        except MlflowException:
            log.warning("%s=%s is not a run in %s; starting a top-level run", PARENT_RUN_ENV, parent, tracking_uri())
            return mlflow.start_run(run_name=name, tags={**tags, "r1router.missing_parent": parent})
        return mlflow.start_run(run_name=name, parent_run_id=parent, tags=tags)
    return mlflow.start_run(run_name=name, tags=tags)


@contextmanager
def tracked_run(name: str, tags: Mapping[str, str], root: Path = Path(".")) -> Iterator[Any]:
    """An MLflow run that ends FINISHED, or FAILED with `error.txt` on any exception or signal."""
    import mlflow

    use_store(root)
    with termination_raises(), _start_run(mlflow, name, {**process_tags(root), **tags}):
        try:
            yield mlflow
        except BaseException:
            mlflow.log_text(traceback.format_exc(), ERROR_ARTIFACT)
            mlflow.end_run(status="FAILED")
            raise


@contextmanager
def stage_run(
    stage: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None, root: Path = Path(".")
) -> Iterator[Any]:
    """Open an MLflow run for one stage; yield the `mlflow` module for logging inside it.

    Tagged at the start with the DVC hash of every dep, and on success with the
    hash of every out (see `r1router.lineage`). Outside a DVC project, or for a
    stage dvc.yaml does not declare, the run is tagged `dvc.tracked=false`.
    """
    all_tags = {"stage": stage, "r1router.kind": "stage", "params_hash": params_hash(params), **git_state(root)}
    with tracked_run(stage, {**all_tags, **(tags or {})}, root) as mlflow:
        mlflow.log_params(flatten(params))
        tracked = _tag_deps(mlflow, stage, root)
        yield mlflow
        if tracked:
            mlflow.set_tags(lineage.out_tags(stage, root))


def _tag_deps(mlflow: Any, stage: str, root: Path) -> bool:
    """Tag the active run with its deps' hashes, inside the run so that a failure here fails the run visibly.

    Returns False (tag `dvc.tracked=false`) when there is no DVC project or dvc.yaml lacks the stage.
    """
    if is_dvc_project(root):
        try:
            tags = lineage.dep_tags(stage, root)
            mlflow.set_tags({"dvc.tracked": "true", **tags})
            log_data_inputs(mlflow, tags)
            return True
        except ConfigError as exc:
            log.warning("no lineage tags for stage '%s': %s", stage, exc)
    mlflow.set_tag("dvc.tracked", "false")
    return False


def data_inputs(dep_tags: Mapping[str, str]) -> list[Any]:
    """A stage's data deps (not its code) as MLflow datasets: the dep path as name and source, DVC's hash as digest.

    The digest is the md5 dvc.lock records for that dep (`<md5>.dir` for a
    directory, 36 characters, MLflow's limit), so the Datasets column names the
    data version a run read, and runs that read the same version share a dataset.
    """
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource

    datasets = []
    for key, digest in sorted(dep_tags.items()):
        path = key.removeprefix(lineage.DEP_PREFIX)
        if key.startswith(lineage.DEP_PREFIX) and not is_code_dep(path) and digest != lineage.MISSING:
            datasets.append(MetaDataset(LocalArtifactDatasetSource(path), name=path, digest=digest))
    return datasets


def log_data_inputs(mlflow: Any, dep_tags: Mapping[str, str]) -> None:
    """Log `data_inputs` to the active run with the context `dvc.dep`."""
    datasets = data_inputs(dep_tags)
    if datasets:
        mlflow.log_inputs(datasets, contexts=[DEP_CONTEXT] * len(datasets), tags_list=[None] * len(datasets))


@contextmanager
def pipeline_run(tags: Mapping[str, str] | None = None, root: Path = Path(".")) -> Iterator[Any]:
    """The parent run of one pipeline run; stage runs started meanwhile (here or in child processes) nest in it."""
    from r1router.config import load_profile, params_path

    profile, sections = load_profile(root / params_path())
    all_tags = {
        "r1router.kind": "pipeline",
        "profile": profile,
        "params_hash": params_hash({"profile": profile, "profiles": {profile: sections}}),
        "dvc.lock_md5.before": lineage.lock_md5(root),
        **git_state(root),
        **(tags or {}),
    }
    with tracked_run("pipeline", all_tags, root) as mlflow:
        previous = os.environ.get(PARENT_RUN_ENV)
        os.environ[PARENT_RUN_ENV] = mlflow.active_run().info.run_id
        try:
            yield mlflow
        finally:
            if previous is None:
                os.environ.pop(PARENT_RUN_ENV, None)
            else:
                os.environ[PARENT_RUN_ENV] = previous
            mlflow.set_tag("dvc.lock_md5.after", lineage.lock_md5(root))


def close_orphaned_runs(root: Path = Path(".")) -> list[str]:
    """End FAILED every RUNNING run of this checkout whose process is gone (SIGKILL, OOM); return their ids.

    A run's process is known from its `r1router.*` tags; runs of live processes,
    other hosts or other checkouts are left alone.
    """
    import mlflow

    experiment = use_store(root)
    client = mlflow.MlflowClient()
    mine = {"r1router.checkout": str(root.resolve()), "r1router.host": socket.gethostname()}
    closed = []
    for run in client.search_runs([experiment], "attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        if any(tags.get(key) != value for key, value in mine.items()):
            continue
        pid = tags.get("r1router.pid", "")
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        message = f"process {pid} ended without closing this run (killed by SIGKILL or out of memory?)\n"
        client.log_text(run.info.run_id, message, ERROR_ARTIFACT)
        client.set_terminated(run.info.run_id, status="FAILED")
        closed.append(run.info.run_id)
    if closed:
        log.warning("closed %d orphaned MLflow run(s) as FAILED: %s", len(closed), ", ".join(closed))
    return closed


@contextmanager
def locked_checkout(root: str | Path = ".", command: str | None = None) -> Iterator[PipelineLock]:
    """Hold the pipeline lock; the process that takes it first closes the runs a killed holder left RUNNING.

    Only the first holder cleans up: a nested holder (a stage under `r1router repro`)
    would otherwise race its own parent's still-running run.
    """
    with pipeline_lock(root, command) as lock:
        if lock.acquired:
            close_orphaned_runs(Path(root))
        yield lock

"""`r1router repro`: one `dvc repro` as one pipeline run.

Around `dvc repro` it holds the checkout's pipeline lock, opens the parent
MLflow run that every stage run nests under, and makes sure an interrupted
run stops as a whole: `dvc repro` runs in its own process group, and Ctrl-C
or SIGTERM/SIGHUP here is passed on to that group, so a stage process gets
the signal, ends its MLflow run FAILED and exits before this process marks the
parent FAILED. Stage runs whose process was SIGKILLed are closed FAILED once
the group is gone (`close_orphaned_runs`).

Its stages report to one Prefect server that lives as long as the run
(`prefect_server.shared_api`) instead of each starting Prefect's temporary API.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from r1router.dvcfile import is_dvc_project
from r1router.errors import ConfigError, R1RouterError
from r1router.prefect_server import client_env, shared_api
from r1router.tracking import close_orphaned_runs, locked_checkout, pipeline_run

LOG_ARTIFACT = "dvc-repro.log"
LOG_LINES = 5000
STOP_GRACE_S = 60.0  # a stage that got SIGTERM/SIGINT has this long to close its run before SIGKILL


class ReproFailed(R1RouterError):
    """`dvc repro` exited non-zero; the parent run is FAILED and names the failed stage runs."""

    def __init__(self, returncode: int, failed_stages: Sequence[str]):
        self.returncode = returncode
        where = f"; failed stage runs: {', '.join(failed_stages)}" if failed_stages else ""
        super().__init__(f"dvc repro exited with code {returncode}{where}")


def dvc_command(args: Sequence[str]) -> list[str]:
    """`dvc repro ARGS`, preferring the dvc installed next to this Python (the venv's)."""
    beside = Path(sys.executable).parent / "dvc"
    return [str(beside) if beside.is_file() else shutil.which("dvc") or "dvc", "repro", *args]


def _env(prefect_api: str | None) -> dict[str, str]:
    """The stage commands' environment: this Python's bin first on PATH, so `python -m flows.x` is the venv's.

    Stages report to `prefect_api`, the server this run started (logs included,
    no links to it: it stops with the run), or else to the configured
    `PREFECT_API_URL` (logs and links: that server outlives the run).
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1"}
    if prefect_api is not None:
        env.update(client_env(prefect_api, links=False))
    elif os.environ.get("PREFECT_API_URL"):
        env.update(client_env(os.environ["PREFECT_API_URL"], links=True))
    return env


def _group_alive(pgid: int) -> bool:
    """True while a process of the group is running; zombies do not count (nothing may reap them here)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _stop_group(proc: subprocess.Popen, signum: int) -> None:
    """Send `signum` to dvc's process group, give it `STOP_GRACE_S` to finish, then SIGKILL what is left."""
    deadline = time.monotonic() + STOP_GRACE_S
    for sig in (signum, signal.SIGKILL):
        if not _group_alive(proc.pid):
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        while time.monotonic() < deadline and _group_alive(proc.pid):
            proc.poll()
            time.sleep(0.1)
        deadline = time.monotonic() + 5.0
    proc.wait()


def _tee(stream: Any, log: deque[str]) -> None:
    """Echo dvc's output and keep its tail; runs in a thread so the pipe drains even while stopping."""
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()
        log.append(line)


def _run_dvc(args: Sequence[str], root: Path, pass_fds: Sequence[int], log: deque[str], prefect_api: str | None) -> int:
    """Run `dvc repro`, echoing and keeping its output; on any interruption stop its whole group."""
    proc = subprocess.Popen(
        dvc_command(args),
        cwd=root,
        env=_env(prefect_api),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )
    reader = threading.Thread(target=_tee, args=(proc.stdout, log), daemon=True)
    reader.start()
    signum = signal.SIGTERM
    try:
        return proc.wait()
    except KeyboardInterrupt:
        signum = signal.SIGINT
        raise
    finally:
        _stop_group(proc, signum)
        reader.join(timeout=5.0)


def _failed_children(mlflow: Any) -> list[str]:
    run = mlflow.active_run()
    children = mlflow.MlflowClient().search_runs(
        [run.info.experiment_id],
        f"tags.`mlflow.parentRunId` = '{run.info.run_id}' and attributes.status = 'FAILED'",
    )
    return [f"{child.data.tags.get('stage', child.info.run_name)} ({child.info.run_id})" for child in children]


def run_repro(args: Sequence[str], root: Path = Path(".")) -> str:
    """`dvc repro ARGS` under the pipeline lock and a parent MLflow run; return the parent's run id.

    Raises `PipelineLocked` when another run holds the checkout and
    `ReproFailed` when dvc fails (the parent run is then FAILED).
    """
    root = root.resolve()
    if not is_dvc_project(root):  # before the lock file and the MLflow store, which would be left behind
        raise ConfigError(f"{root}: not a DVC project (no .dvc and dvc.yaml); run `r1router repro` from the repo root")
    command = shlex.join(["r1router", "repro", *args])
    with (
        locked_checkout(root, command) as lock,
        pipeline_run({"dvc.command": shlex.join(["dvc", "repro", *args])}, root) as mlflow,
        shared_api(root) as prefect_api,
    ):
        run_id = mlflow.active_run().info.run_id
        log: deque[str] = deque(maxlen=LOG_LINES)
        try:
            returncode = _run_dvc(args, root, [lock.fd] if lock.fd is not None else [], log, prefect_api)
        finally:
            mlflow.log_text("".join(log), LOG_ARTIFACT)
            orphans = close_orphaned_runs(root)
            if orphans:
                mlflow.set_tag("r1router.orphans_closed", ",".join(orphans))
        mlflow.set_tag("dvc.exit_code", str(returncode))
        if returncode != 0:
            raise ReproFailed(returncode, _failed_children(mlflow))
    return run_id

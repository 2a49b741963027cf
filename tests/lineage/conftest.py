"""A toy DVC project (git + DVC + a real MLflow SQLite store) whose three stages each open a `stage_run`.

    raw/${profile} ─► prep ─► data/prep ─┬─► train (reads data/prep/a.txt) ─► model.txt ─┐
                                         └──────────────────────────────────────────────┴─► evaluate ─► eval.json

Each stage takes the pipeline lock as `flows.stage.tracked_stage` does. Stages
finish in seconds, so lineage, parent runs, failures and signals are
tested on real DVC, MLflow and subprocesses without the real pipeline.
`TOY_FAIL`, `TOY_HANG` and `TOY_KILL9` (a stage name) make that stage raise,
hang (after writing `<stage>.pid`) or SIGKILL itself inside its run.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

STAGE_SCRIPT = """
import json, os, signal, sys, time
from pathlib import Path

from r1router.config import stage_params
from r1router.locking import pipeline_lock
from r1router.tracking import stage_run

name = sys.argv[1]
params = stage_params(name)
with pipeline_lock(command=f"python stage.py {name}"), stage_run(name, params) as mlflow:
    if os.environ.get("TOY_FAIL") == name:
        raise RuntimeError(f"toy failure in {name}")
    if os.environ.get("TOY_HANG") == name:
        Path(f"{name}.pid").write_text(str(os.getpid()))
        time.sleep(300)
    if os.environ.get("TOY_KILL9") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if name == "prep":
        Path("data/prep").mkdir(parents=True, exist_ok=True)
        for source in sorted(Path(params["raw_dir"]).glob("*.txt")):
            Path("data/prep", source.name).write_text(source.read_text().upper() * params["repeat"])
    elif name == "train":
        Path("model.txt").write_text(f"weights {len(Path('data/prep/a.txt').read_text()) * params['scale']}\\n")
    elif name == "evaluate":
        weights = int(Path("model.txt").read_text().split()[1])
        score = round(100.0 * weights / (weights + params["offset"]), 4)
        Path("metrics").mkdir(exist_ok=True)
        Path("metrics/eval.json").write_text(json.dumps({"bench": {"sft": {"f1_recall": score}}}))
        mlflow.log_metric("bench.sft.f1_recall", score)
        with mlflow.start_run(run_name="sft", nested=True):
            mlflow.log_metric("bench.f1_recall", score)
"""

DVC_YAML = """\
stages:
  prep:
    cmd: python stage.py prep
    deps: [stage.py, "raw/${profile}"]
    params: [profile, "profiles.${profile}.prep"]
    outs: [data/prep]
  train:
    cmd: python stage.py train
    deps: [stage.py, data/prep/a.txt]
    params: [profile, "profiles.${profile}.train"]
    outs: [model.txt]
  evaluate:
    cmd: python stage.py evaluate
    deps: [stage.py, model.txt, data/prep]
    params: [profile, "profiles.${profile}.evaluate"]
    metrics:
      - metrics/eval.json:
          cache: false
"""

PARAMS_YAML = """\
profile: toy
profiles:
  toy:
    prep: {raw_dir: raw/toy, repeat: 2}
    train: {scale: 3}
    evaluate: {offset: 10}
"""


class Toy:
    """The toy project at `root`, with an environment that isolates it from the real checkout."""

    def __init__(self, root: Path):
        self.root = root
        env = {k: v for k, v in os.environ.items() if not k.startswith(("R1ROUTER_", "MLFLOW_", "DVC_"))}
        self.env = {
            **env,
            "PATH": str(BIN) + os.pathsep + env.get("PATH", ""),
            "DVC_NO_ANALYTICS": "1",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        }

    def run(self, *args: str, check: bool = True, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
        env = {**self.env, **env}
        proc = subprocess.run(args, cwd=cwd or self.root, env=env, capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def popen(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen(
            args, cwd=self.root, env={**self.env, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def dvc(self, *args: str, check: bool = True, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, check=check, cwd=cwd, **env)

    def r1router(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "r1router.cli", *args, check=check, **env)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)

    def query(self, sql: str, *args) -> list[tuple]:
        with sqlite3.connect(self.root / "mlflow.db") as db:
            return db.execute(sql, args).fetchall()

    def runs(self) -> list[dict]:
        """Every run in the store with its tags, oldest first."""
        rows = self.query("select run_uuid, name, status, artifact_uri from runs order by start_time, run_uuid")
        runs = []
        for run_id, name, status, artifact_uri in rows:
            tags = dict(self.query("select key, value from tags where run_uuid = ?", run_id))
            runs.append({"id": run_id, "name": name, "status": status, "tags": tags, "artifacts": artifact_uri})
        return runs

    def artifact(self, run: dict, name: str) -> str:
        """A run's artifact file, read from disk: `mlflow-artifacts:/P` lives at `<store dir>/mlartifacts/P`."""
        relative = run["artifacts"].removeprefix("mlflow-artifacts:").lstrip("/")
        return (self.root / "mlartifacts" / relative / name).read_text()


def make_toy(root: Path) -> Toy:
    root.mkdir(parents=True, exist_ok=True)
    (root / "stage.py").write_text(STAGE_SCRIPT)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text(PARAMS_YAML)
    (root / "raw" / "toy").mkdir(parents=True)
    (root / "raw" / "toy" / "a.txt").write_text("alpha\n")
    (root / "raw" / "toy" / "b.txt").write_text("beta\n")
    (root / ".gitignore").write_text("/mlflow.db\n/mlartifacts/\n/.r1router.lock\n*.pid\n")
    toy = Toy(root)
    toy.run("git", "init", "-q")
    toy.dvc("init", "-q")
    toy.commit("toy project")
    return toy


@pytest.fixture(scope="session")
def new_toy(tmp_path_factory) -> Callable[[], Toy]:
    """Make a fresh toy project (for module-scoped fixtures)."""
    return lambda: make_toy(tmp_path_factory.mktemp("toy") / "toy")


@pytest.fixture
def toy(tmp_path) -> Toy:
    return make_toy(tmp_path / "toy")

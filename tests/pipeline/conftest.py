"""A throwaway copy of the repo running the real pipeline (DVC → Prefect → MLflow) on `smoke`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in out.stdout.splitlines() if (REPO / line).is_file()]


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "DVC_NO_ANALYTICS": "1",
            "PREFECT_HOME": str(root / ".prefect"),
            "PREFECT_LOCAL_STORAGE_PATH": str(root / ".prefect" / "storage"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        }

    def run(self, *args: str, check: bool = True, timeout: int = 3600) -> subprocess.CompletedProcess:
        proc = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return proc

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(Path(sys.executable).parent / "dvc"), *args, check=check)

    def r1router(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "r1router.cli", *args, check=check)

    def set_param(self, dotted: str, value) -> None:
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        node = params
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
        path.write_text(yaml.safe_dump(params, sort_keys=False))


def copy_repo(root: Path, profile: str) -> Workspace:
    """The repo's tracked and new files copied into a fresh git + DVC checkout with `profile` active."""
    for name in tracked_files():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    ws = Workspace(root)
    ws.set_param("profile", profile)
    ws.run("git", "init", "-q")
    ws.run("git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    ws.run("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "snapshot")
    return ws


@pytest.fixture(scope="session")
def smoke_workspace(tmp_path_factory) -> Workspace:
    """The repo copied into a fresh git + DVC checkout with `profile: smoke`, not yet reproduced."""
    return copy_repo(tmp_path_factory.mktemp("repo"), "smoke")


@pytest.fixture
def paper_workspace(tmp_path_factory) -> Workspace:
    """The repo copied with `profile: paper`; the test points its sources and models at what it can reach."""
    return copy_repo(tmp_path_factory.mktemp("paper-repo"), "paper")

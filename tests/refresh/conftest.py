"""A toy DVC repo (a ← corpus1, b ← corpus2, c ← a + b); the loopback corpus server is in tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent


def _stage(name: str, deps: list[str], out: str) -> dict:
    """A stage that writes its deps' content to its out and appends its name to log.txt; fails on 'FAIL'."""
    code = (
        "import pathlib, sys; out = pathlib.Path(sys.argv[1]); out.parent.mkdir(exist_ok=True); "
        "text = ''.join(pathlib.Path(p).read_text() for p in sys.argv[2:]); "
        "sys.exit('FAIL in input') if 'FAIL' in text else out.write_text(text); "
        f"open('log.txt', 'a').write('{name}\\n')"
    )
    return {"cmd": f'python -c "{code}" {out} {" ".join(deps)}', "deps": deps, "outs": [out]}


class ToyRepo:
    """A git + DVC repo whose stages record in log.txt which of them ran."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {**os.environ, "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1"}

    def run(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
        return proc

    def set_sources(self, sources: dict, **settings) -> None:
        refresh = {
            "state": "data/cache/refresh-state.json",
            "http_timeout_seconds": 5,
            "retries": 1,
            "retry_delay_seconds": [0],
            "sources": sources,
            **settings,
        }
        params = {"profile": "toy", "profiles": {"toy": {"refresh": refresh}}}
        (self.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def ran(self) -> list[str]:
        """Stages that ran since the last call, in order."""
        log = self.root / "log.txt"
        lines = log.read_text().split() if log.exists() else []
        log.unlink(missing_ok=True)
        return lines

    @property
    def state(self) -> Path:
        return self.root / "data/cache/refresh-state.json"


def _toy(root: Path) -> ToyRepo:
    """corpus/c1.txt → a, corpus/c2.txt → b, a + b → c, in a fresh git + DVC repo, not reproduced yet."""
    repo = ToyRepo(root)
    (root / "corpus").mkdir(parents=True)
    (root / "corpus/c1.txt").write_text("one\n")
    (root / "corpus/c2.txt").write_text("two\n")
    stages = {
        "a": _stage("a", ["corpus/c1.txt"], "out/a.txt"),
        "b": _stage("b", ["corpus/c2.txt"], "out/b.txt"),
        "c": _stage("c", ["out/a.txt", "out/b.txt"], "out/c.txt"),
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    repo.set_sources({})
    repo.run("git", "init", "-q")
    repo.run(str(BIN / "dvc"), "init", "-q")
    return repo


@pytest.fixture(scope="module")
def toy_project(tmp_path_factory) -> ToyRepo:
    """The toy repo for reading its config only (shared by a module; each test sets its own sources)."""
    return _toy(tmp_path_factory.mktemp("project"))


@pytest.fixture
def toy_repo(tmp_path) -> ToyRepo:
    """The toy repo after one `dvc repro` (its log cleared), for tests that change and re-run it."""
    repo = _toy(tmp_path / "repo")
    repo.run(str(BIN / "dvc"), "repro")
    assert repo.ran() == ["a", "b", "c"]
    return repo

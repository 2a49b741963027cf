"""The committed `.dvc/config` names a local default remote beside the checkout: push, then pull into a fresh clone."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MAKE = """\
from pathlib import Path
Path("out").mkdir(exist_ok=True)
Path("out/a.txt").write_text("alpha " * 1000)
Path("out/b.bin").write_bytes(bytes(range(256)) * 8)
"""

DVC_YAML = "stages:\n  make:\n    cmd: python make.py\n    deps: [make.py]\n    outs: [out]\n"


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_push_then_pull_into_a_fresh_clone_through_the_default_remote(toy):
    # A one-stage pipeline in a project that uses the repository's own DVC config.
    shutil.copy(REPO / ".dvc" / "config", toy.root / ".dvc" / "config")
    (toy.root / "make.py").write_text(MAKE)
    (toy.root / "dvc.yaml").write_text(DVC_YAML)
    toy.dvc("repro")
    toy.commit("tiny pipeline")
    remote = toy.root.parent / "r1router-dvc-remote"  # `../r1router-dvc-remote` from the checkout
    assert "offline" in toy.dvc("remote", "default").stdout
    toy.dvc("push")
    assert any(p.is_file() for p in remote.rglob("*"))

    clone = toy.root.parent / "clone"
    toy.run("git", "clone", "-q", str(toy.root), str(clone))
    assert not (clone / "out").exists()
    toy.dvc("pull", cwd=clone)
    assert files(clone / "out") == files(toy.root / "out")
    assert "up to date" in toy.dvc("status", cwd=clone).stdout


def test_the_remote_is_overridable_per_checkout_without_touching_the_committed_config(toy):
    shutil.copy(REPO / ".dvc" / "config", toy.root / ".dvc" / "config")
    toy.commit("repository DVC config")
    (toy.root / "data.txt").write_text("tracked by dvc add\n")
    toy.dvc("add", "data.txt")
    elsewhere = toy.root.parent / "elsewhere"
    toy.dvc("remote", "modify", "--local", "offline", "url", str(elsewhere))
    toy.dvc("push")
    assert any(p.is_file() for p in elsewhere.rglob("*"))
    assert not (toy.root.parent / "r1router-dvc-remote").exists()
    assert (toy.root / ".dvc" / "config").read_text() == (REPO / ".dvc" / "config").read_text()
    assert ".dvc/config.local" not in toy.run("git", "status", "--porcelain", "--untracked-files=all").stdout

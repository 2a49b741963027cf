"""`tasks.caching.code_version`: a stage's code version is its dvc.yaml code deps, no more, no less."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from r1router.errors import ConfigError
from tasks.caching import ROOT, code_version


def test_code_version_follows_exactly_the_code_among_the_stage_deps(tmp_path):
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    files = ("core/__init__.py", "core/stage/a.py", "core/other/b.py", "flow.py", "data/gen.py")
    for path in files:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x = 1\n")
    stage = {"cmd": "python -m flow", "deps": ["core/stage", "flow.py", "data"], "outs": ["out"]}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": stage}}))

    def version_after(edit: str) -> str:
        (tmp_path / edit).write_text((tmp_path / edit).read_text() + "# edited\n")
        return code_version("s", tmp_path)

    base = code_version("s", tmp_path)
    assert version_after("core/other/b.py") == base  # not a dep of the stage
    assert version_after("data/gen.py") == base  # a dep, but data: not walked for code
    changed = version_after("core/stage/a.py")
    assert changed != base
    assert version_after("flow.py") != changed


def test_code_version_takes_a_stage_name():
    assert len(code_version("world")) == 64
    with pytest.raises(ConfigError, match="no stage 'r1router/world'"):
        code_version("r1router/world", ROOT)

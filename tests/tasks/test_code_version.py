"""`tasks.caching.code_version`: a stage's code version hashes its flow's import closure, no more, no less."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from r1router.errors import ConfigError
from tasks.caching import ROOT, code_version


def test_code_version_follows_exactly_the_files_the_stage_imports(tmp_path):
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    files = {
        "flows/__init__.py": "",
        "flows/run.py": "from r1router.core import x\n",
        "r1router/__init__.py": "",
        "r1router/core.py": "def x():\n    from r1router.lazy import y\n",
        "r1router/lazy.py": "y = 1\n",
        "r1router/other.py": "z = 1\n",
        "r1router/tracking.py": "import r1router.core\n",  # plumbing: never part of the version
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    stage = {"cmd": "python -m flows.run", "deps": ["data"], "outs": ["out"]}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": stage}}))

    def version_after(edit: str) -> str:
        (tmp_path / edit).write_text((tmp_path / edit).read_text() + "# edited\n")
        return code_version("s", tmp_path)

    base = code_version("s", tmp_path)
    assert version_after("r1router/other.py") == base  # not imported by the stage
    changed = version_after("r1router/lazy.py")  # imported inside a function
    assert changed != base
    assert version_after("flows/run.py") != changed


def test_code_version_takes_a_stage_name():
    assert len(code_version("world")) == 64
    with pytest.raises(ConfigError, match="no stage 'r1router/world'"):
        code_version("r1router/world", ROOT)

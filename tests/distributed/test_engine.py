"""The `distributed` param: defaults to the single-process path, refuses what it does not know."""

from __future__ import annotations

import pytest

from r1router.distributed.engine import Engine
from r1router.errors import ConfigError


def test_no_section_is_local():
    assert Engine.from_params(None) == Engine("local", None, 2)
    assert not Engine.from_params({}).is_ray


def test_ray_with_an_address():
    engine = Engine.from_params({"engine": "ray", "address": "10.0.0.1:6379", "workers": 8})
    assert engine.is_ray and engine.address == "10.0.0.1:6379" and engine.workers == 8


@pytest.mark.parametrize("params", [{"engine": "dask"}, {"engine": "ray", "workers": 0}, {"engine": "ray", "nodes": 3}])
def test_bad_settings_are_config_errors(params):
    with pytest.raises(ConfigError):
        Engine.from_params(params)


def test_the_cli_options_name_an_engine_and_a_bad_one_is_one_clear_error(tmp_path):
    import subprocess
    import sys

    from r1router.cli_corpus import engine_from_options

    assert engine_from_options("local", None, 2) is None  # the single-process path, as without the flags
    assert engine_from_options("ray", None, 3) == Engine("ray", None, 3)
    assert engine_from_options("ray", "10.0.0.1:6379", 2).address == "10.0.0.1:6379"
    passages = tmp_path / "p.jsonl"
    passages.write_text('{"id": "a", "text": "x"}\n')
    args = ["kb", "build", "--kind", "text", "--input", str(passages), "--out", str(tmp_path / "kb")]
    proc = subprocess.run(
        [sys.executable, "-m", "r1router.cli", *args, "--encoder", str(tmp_path), "--engine", "dask"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "error: distributed.engine must be one of local, ray, got 'dask'" in proc.stderr

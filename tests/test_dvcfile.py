"""`r1router.dvcfile`: stages as DVC loads them, the DAG rule, which stage wrote a path, and which deps are code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from r1router.dvcfile import (
    Stage,
    consumers,
    load_stages,
    producer_of,
    producers,
    stage_named,
    topological_order,
    upstream,
)
from r1router.errors import ConfigError


def _stage(name: str, deps: tuple[str, ...] = (), outs: tuple[str, ...] = ()) -> Stage:
    return Stage(name, f"python -m flows.{name}", deps, outs)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=root, check=True)
    (root / "params.yaml").write_text(yaml.safe_dump({"profile": "p", "dirs": {"p": "data/p"}}))
    stages = {
        "make": {
            "cmd": "python -m flows.make",
            "deps": ["pkg/sub", "run.py", "data/raw"],
            "params": ["profile"],
            "outs": ["${dirs.p}"],
            "metrics": [{"metrics/make.json": {"cache": False}}],
        },
        "use": {"cmd": "python -m flows.use", "deps": ["data/p/part"], "outs": ["data/used"]},
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    return root


def test_stages_are_loaded_by_dvc_with_interpolation_and_metrics_as_outs(project):
    stages = load_stages(project)
    assert list(stages) == ["make", "use"]
    assert stages["make"].deps == ("pkg/sub", "run.py", "data/raw")  # params are not path deps
    assert stages["make"].outs == ("data/p", "metrics/make.json")
    assert stages["make"].module == "flows.make"


def test_a_directory_without_dvc_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a DVC project"):
        load_stages(tmp_path)


def test_upstream_links_a_dep_inside_an_out_and_an_out_inside_a_dep():
    stages = {
        "report": _stage("report", deps=("data",)),  # a dep that contains another stage's out
        "train": _stage("train", deps=("data/world/kb",), outs=("models/sft",)),  # a dep inside an out
        "world": _stage("world", outs=("data/world",)),
        "other": _stage("other", deps=("data-world",)),  # a shared prefix is not a path inside
    }
    assert upstream(stages) == {
        "report": {"world"},
        "train": {"world"},
        "world": set(),
        "other": set(),
    }
    assert topological_order(stages) == ["world", "report", "train", "other"]
    assert consumers(stages, "data/world/kb/text.parquet") == ["report", "train"]
    assert producers(stages, "data/world/kb/text.parquet") == ["world"]


def test_producer_of_is_the_stage_whose_out_holds_the_path_never_one_below_it():
    stages = {
        "world": _stage("world", outs=("data/world", "metrics/world.json")),
        "train": _stage("train", deps=("data/world/kb",), outs=("models/sft",)),
    }
    assert producer_of(stages, "data/world/kb/text.parquet") == "world"
    assert producer_of(stages, "models/sft") == "train"
    assert producer_of(stages, "data") is None  # holds world's out, but no run hashes a directory above its outs
    assert producer_of(stages, "data/world-v2") is None  # a shared prefix is not a path inside
    assert producer_of(stages, "r1router/kb") is None  # a source


def test_an_unknown_stage_name_lists_the_stages_there_are(project):
    stages = load_stages(project)
    assert stage_named(stages, "use", project) is stages["use"]
    with pytest.raises(ConfigError, match=r"dvc\.yaml: no stage 'uses' \(stages: make, use\)"):
        stage_named(stages, "uses", project)


def test_a_cycle_is_refused():
    stages = {"a": _stage("a", deps=("x",), outs=("y",)), "b": _stage("b", deps=("y",), outs=("x",))}
    with pytest.raises(ConfigError, match=r"\['a', 'b'\] depend on each other in a cycle"):
        topological_order(stages)


def test_a_cmd_that_is_not_python_dash_m_names_the_stage():
    with pytest.raises(ConfigError, match=r"stage 'x' cmd 'bash run\.sh' is not 'python -m <module>'"):
        _ = Stage("x", "bash run.sh", (), ()).module

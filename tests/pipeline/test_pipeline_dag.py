"""`flows.pipeline` runs dvc.yaml's DAG: checked against DVC's own graph, and by a real run of a toy pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.testing.utilities import prefect_test_harness

from flows.pipeline import pipeline_flow, plan, stage_flow
from r1router.dvcfile import Stage, load_stages
from r1router.errors import ConfigError
from r1router.locking import LOCK_FILE
from r1router.tracking import EXPERIMENT

REPO = Path(__file__).resolve().parents[2]


def dvc_parents(root: Path) -> dict[str, set[str]]:
    """Each dvc.yaml stage's parents in the graph DVC itself builds for `dvc repro` / `dvc dag`."""
    from dvc.repo import Repo
    from dvc.stage import PipelineStage

    with Repo(str(root)) as repo:
        graph = repo.index.graph
        parents = {stage.name: set() for stage in graph.nodes if isinstance(stage, PipelineStage)}
        for child, parent in graph.edges:  # DVC's edges point from a stage to the stages it depends on
            parents[child.name].add(parent.name)
    return parents


def test_the_flow_runs_the_repo_stages_in_the_order_of_dvcs_own_graph():
    steps = plan(load_stages(REPO))
    assert {name: set(parents) for name, parents in steps} == dvc_parents(REPO)
    done: set[str] = set()
    for name, parents in steps:
        assert parents <= done, f"{name} would run before {sorted(parents - done)}"
        done.add(name)


def test_every_repo_stage_command_runs_a_flow_named_after_the_stage():
    for stage in load_stages(REPO).values():
        flow = stage_flow(stage)
        assert isinstance(flow, Flow)
        assert flow.name == stage.name


def test_a_module_without_the_stages_flow_is_refused():
    with pytest.raises(ConfigError, match=r"stage 'tokenize' runs json, which defines 0 flows named 'tokenize'"):
        stage_flow(Stage("tokenize", "python -m json", (), ()))


TOY_FLOW = """
from pathlib import Path
from prefect import flow

@flow(name="{name}")
def run() -> str:
    with open("ran.txt", "a") as log:
        log.write("{name}\\n")
    return "{name} done"
"""


@pytest.mark.slow
def test_the_pipeline_flow_runs_each_stage_flow_as_a_subflow_parents_first(tmp_path, monkeypatch):
    """dvc.yaml lists the stages out of order; the flow derives the order and calls each stage's module."""
    stages = {
        "report": {"cmd": "python -m toyflows.report", "deps": ["models/sft"], "outs": ["report.md"]},
        "train": {"cmd": "python -m toyflows.train", "deps": ["data/world/kb"], "outs": ["models/sft"]},
        "world": {"cmd": "python -m toyflows.world", "outs": ["data/world"]},
        "notes": {"cmd": "python -m toyflows.notes", "outs": ["notes.md"]},
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "toyflows").mkdir()
    (tmp_path / "toyflows/__init__.py").write_text("")
    for name in stages:
        (tmp_path / f"toyflows/{name}.py").write_text(TOY_FLOW.format(name=name))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"profile": "toy", "profiles": {"toy": {}}}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")

    with prefect_test_harness(server_startup_timeout=None):
        state = pipeline_flow(return_state=True)
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs()
    assert state.is_completed()
    assert (tmp_path / "ran.txt").read_text().split() == ["world", "train", "report", "notes"]
    assert state.result() == {name: f"{name} done" for name in stages}
    pipeline_run = state.state_details.flow_run_id
    subflows = [run for run in runs if run.id != pipeline_run]
    assert len(subflows) == 4 and all(run.parent_task_run_id is not None for run in subflows)
    # One parent MLflow run for the whole pipeline (stage runs nest in it), and the lock is released.
    [parent] = mlflow.MlflowClient().search_runs(
        [mlflow.get_experiment_by_name(EXPERIMENT).experiment_id], "tags.`r1router.kind` = 'pipeline'"
    )
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["prefect_flow_run_id"] == str(pipeline_run)
    assert (tmp_path / LOCK_FILE).read_text() == ""

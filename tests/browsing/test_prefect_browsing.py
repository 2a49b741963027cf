"""What a reviewer browsing Prefect relies on, checked through a real `prefect server start` and its REST API.

One server (`r1router.prefect_server.local_server`, as `r1router repro` and `schedule serve` start it) on
a port other than Prefect's default; a small flow runs against it in a fresh process with the settings a
stage of `r1router repro` gets (`client_env`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
from prefect.settings import PREFECT_API_URL, temporary_settings

from r1router.prefect_server import client_env, free_port, local_server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

# A flow shaped like `evaluate`: two independent method tasks, each result keyed by the names that key its
# input (as `evaluate_method_task`'s is), a log line, and the stage summary. Prints its flow run id.
FLOW = """
import sys
from pathlib import Path

import tasks  # the project's Prefect defaults, as every stage gets them
import mlflow
from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from flows.evaluate import evaluate_method, unshared
from flows.stage import publish_summary
from r1router.tracking import use_store

SHARE = sys.argv[1] == "shared"


@task(name="evaluate-method")
def score(method: str, question_files: dict) -> dict:
    return {name: {"f1_recall": 1.0} for name in question_files}


named = score.with_options(task_run_name=evaluate_method.task_run_name)


@flow(name="evaluate")
def toy_evaluate() -> None:
    get_run_logger().info("toy evaluate says hello")
    question_files = {"demo_a": "a.jsonl", "demo_b": "b.jsonl"}
    for method in ("direct", "step-grpo"):
        args = {"method": method, "question_files": question_files}
        named(**(args if SHARE else unshared(args)))
    use_store(Path(sys.argv[2]))
    with mlflow.start_run():
        publish_summary("evaluate", "| Method | Avg. |\\n| :--- | ---: |\\n| step-grpo | 1.00 |\\n", mlflow)
    print("FLOW_RUN", flow_run.id)


toy_evaluate()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A project-started Prefect server on a free port (never 4200), with its own home; yields its API URL."""
    home = tmp_path_factory.mktemp("prefect")
    port = free_port()
    assert port != 4200
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    with local_server(port, env={**env, "PREFECT_HOME": str(home)}, log=home / "server.log") as api_url:
        yield api_url, home


def run_flow(api_url: str, home: Path, tmp_path: Path, mode: str) -> tuple[str, str]:
    """Run the toy flow as a stage of `r1router repro` would; return (flow run id, its output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(PREFECT_HOME=str(home), **client_env(api_url, links=False))
    proc = subprocess.run(
        [sys.executable, "-c", FLOW, mode, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("FLOW_RUN")), output


def test_the_ui_calls_the_api_on_the_port_the_server_chose(server):
    api_url, _ = server
    ui_root = api_url.removesuffix("/api")
    with urllib.request.urlopen(f"{ui_root}/ui-settings", timeout=10) as response:
        settings = json.load(response)
    assert settings["api_url"] == api_url


def test_a_stage_flow_run_has_its_logs_named_independent_tasks_its_summary_and_prints_no_dead_links(server, tmp_path):
    api_url, home = server
    flow_run_id, output = run_flow(api_url, home, tmp_path, "unshared")
    assert "View at" not in output  # the server stops with `r1router repro`: no links into its UI
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        assert any("toy evaluate says hello" in log.message for log in logs)
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        assert sorted(run.name for run in task_runs) == ["evaluate[direct]", "evaluate[step-grpo]"]
        assert all(not any(run.task_inputs.values()) for run in task_runs)  # no edge between the two methods
        artifacts = client.read_artifacts()
    [summary] = [a for a in artifacts if a.key == "evaluate-summary" and str(a.flow_run_id) == flow_run_id]
    assert summary.type == "markdown" and "| step-grpo | 1.00 |" in summary.data and "MLflow run `" in summary.data


def test_without_unshared_inputs_prefect_draws_a_false_dependency(server, tmp_path):
    """The control for the test above: the same flow passing one dict to both methods gets an edge."""
    api_url, home = server
    flow_run_id, _ = run_flow(api_url, home, tmp_path, "shared")
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    by_name = {run.name: run for run in task_runs}
    assert any(by_name["evaluate[step-grpo]"].task_inputs.values())
    assert not any(by_name["evaluate[direct]"].task_inputs.values())

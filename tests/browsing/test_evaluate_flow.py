"""The `evaluate` flow end to end on the demo profile's params, with a stand-in for the method task.

The real task runs models; here it writes one prediction file per benchmark and returns fixed numbers,
so the test covers what the flow does around it in MLflow and Prefect: one child run per method with
only its own predictions, Table 1's Avg. as metrics, `table1.md` naming the MLflow run, the HTML copy,
and the Prefect summary artifact.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pytest
from prefect import task
from prefect.client.orchestration import get_client
from prefect.testing.utilities import prefect_test_harness

import flows.evaluate
from r1router.config import stage_params

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = ("demo_2wikimultihopqa", "demo_webqa")


@task(name="evaluate-method")
def fake_method(method: str, question_files: dict, predictions_dir: str, **_: object) -> dict:
    """Writes this method's predictions as the real task does; F1-Recall 10 and 30 (Avg. 20)."""
    results = {}
    for benchmark, score in zip(question_files, (10.0, 30.0), strict=True):
        folder = Path(predictions_dir) / benchmark
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{method}.jsonl").write_text(json.dumps({"method": method}) + "\n")
        results[benchmark] = {"f1_recall": score, "questions": 1, "f1_recall_per_question": [score]}
    return results


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A checkout-like directory with the repo's params.yaml and a two-benchmark demo world."""
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    for benchmark in BENCHMARKS:
        folder = tmp_path / "data/world/questions" / benchmark
        folder.mkdir(parents=True)
        (folder / "test.jsonl").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_URI", "R1ROUTER_PARENT_RUN_ID", "R1ROUTER_LOCK_TOKEN", "R1ROUTER_PARAMS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        flows.evaluate,
        "evaluate_method",
        fake_method.with_options(task_run_name=flows.evaluate.evaluate_method.task_run_name),
    )
    yield tmp_path
    mlflow.set_tracking_uri(None)


def test_evaluate_logs_method_runs_avg_metrics_report_and_prefect_summary(workspace):
    methods = list(stage_params("evaluate")["methods"])
    with prefect_test_harness(server_startup_timeout=None):
        state = flows.evaluate.evaluate_flow(return_state=True)
        with get_client(sync_client=True) as client:
            artifacts = [a for a in client.read_artifacts() if a.key == "evaluate-summary"]
            task_runs = client.read_task_runs()
    assert state.is_completed(), state
    assert sorted(run.name for run in task_runs) == sorted(f"evaluate[{method}]" for method in methods)
    assert all(not any(run.task_inputs.values()) for run in task_runs)

    client = mlflow.MlflowClient()
    [evaluate] = client.search_runs(
        [mlflow.get_experiment_by_name("r1router").experiment_id], "tags.stage = 'evaluate'"
    )
    run_id = evaluate.info.run_id
    assert f"- mlflow_run_id: `{run_id}`" in (workspace / "reports/table1.md").read_text()
    assert evaluate.data.tags["data_version"] in (workspace / "reports/table1.md").read_text()
    files = {a.path for a in client.list_artifacts(run_id)} | {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"table1.md", "table1.html", "eval.json", "eval_stats.json", "plots/f1_by_benchmark.png"} <= files
    for method in methods:
        assert evaluate.data.metrics[f"avg/{method}/f1_recall"] == pytest.approx(20.0)
    # every method scored the same: no difference, nothing to reject; per-question scores stay out of eval.json
    assert evaluate.data.metrics["compare/step-grpo-vs-sft/diff"] == 0.0
    assert evaluate.data.metrics["compare/step-grpo-vs-sft/p_value"] == 1.0
    assert "f1_recall_per_question" not in (workspace / "metrics/eval.json").read_text()
    children = client.search_runs([evaluate.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run_id}'")
    assert sorted(child.data.tags["method"] for child in children) == sorted(methods)
    for child in children:
        method = child.data.tags["method"]
        assert child.data.metrics["avg/f1_recall"] == pytest.approx(20.0)
        predictions = client.list_artifacts(child.info.run_id, f"predictions/{BENCHMARKS[0]}")
        assert [a.path for a in predictions] == [f"predictions/{BENCHMARKS[0]}/{method}.jsonl"]
    [summary] = artifacts
    assert "F1-Recall" in summary.data and run_id in summary.data

"""What a reviewer browsing MLflow relies on, checked through MLflow's client on small synthetic runs.

The store is a tmp SQLite `mlflow.db` opened with `r1router.tracking.use_store`, as every stage opens it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import mlflow
import pytest

from flows.evaluate import AVERAGE, evaluation_metrics, log_report, method_run
from r1router.evaluation.report import write_report
from r1router.lineage import DEP_PREFIX
from r1router.lineage_trace import _by_metric
from r1router.prefect_server import free_port
from r1router.router.generation_config import GenerationConfig
from r1router.tracking import ARTIFACT_DIR, log_data_inputs, use_store
from r1router.training.registry import describe_version, register_router

BENCHMARKS = ("demo_2wikimultihopqa", "demo_webqa")
DECISION = GenerationConfig(max_new_tokens=8)
KB_DEP, KB_HASH = f"{DEP_PREFIX}data/kb", "0123456789abcdef0123456789abcdef.dir"  # the longest DVC hash
METHODS = {"direct": (10.0, 30.0), "step-grpo": (50.0, 70.0)}  # method -> F1-Recall on each benchmark


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh project store in `tmp_path/checkout`; yields the checkout root."""
    root = tmp_path / "checkout"
    root.mkdir()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    use_store(root)
    yield root
    mlflow.set_tracking_uri(None)


def fake_evaluation(predictions: Path, method: str, seconds: float) -> dict:
    """What `evaluate_method_task` does, in miniature: write this method's predictions, return its metrics."""
    time.sleep(seconds)
    for benchmark in BENCHMARKS:
        (predictions / benchmark).mkdir(parents=True, exist_ok=True)
        (predictions / benchmark / f"{method}.jsonl").write_text(f'{{"method": "{method}"}}\n')
    return {
        benchmark: {"f1_recall": score, "questions": 8, "kb_distribution": {"text": 3}}
        for benchmark, score in zip(BENCHMARKS, METHODS[method], strict=True)
    }


def evaluate_methods(root: Path) -> tuple[str, dict[str, str]]:
    """An evaluate run with one child run per method, as `flows.evaluate` logs them; (run id, method -> child id)."""
    predictions = root / "reports" / "predictions"
    results: dict[str, dict] = {}
    with mlflow.start_run(run_name="evaluate") as parent:
        for method in METHODS:
            evaluate = partial(fake_evaluation, predictions, method, 0.3)
            per_benchmark = method_run(method, {"method": method}, predictions, evaluate, {KB_DEP: KB_HASH})
            for benchmark, metrics in per_benchmark.items():
                results.setdefault(benchmark, {})[method] = metrics
        mlflow.log_metrics(evaluation_metrics(results))
    client = mlflow.MlflowClient()
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    return parent.info.run_id, {run.data.tags["method"]: run.info.run_id for run in children}


def artifact_files(client: mlflow.MlflowClient, run_id: str, path: str = "") -> list[str]:
    files = []
    for entry in client.list_artifacts(run_id, path):
        files += artifact_files(client, run_id, entry.path) if entry.is_dir else [entry.path]
    return files


def test_the_experiment_opens_on_its_runs_and_keeps_artifacts_relative_to_the_store(store):
    experiment = mlflow.get_experiment_by_name("r1router")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # not the GenAI traces page
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/a.txt")
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    assert str(store) not in mlflow.get_run(run.info.run_id).info.artifact_uri
    assert (store / ARTIFACT_DIR).is_dir()


READ_BACK = """
import sys
from pathlib import Path
import mlflow
from r1router.tracking import use_store
use_store(Path(sys.argv[1]))
print(mlflow.artifacts.load_text(f"runs:/{sys.argv[2]}/notes/a.txt"))
"""


def test_artifacts_resolve_after_the_checkout_is_copied_and_the_original_removed(store, tmp_path):
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/a.txt")
    copy = tmp_path / "elsewhere" / "clone"
    shutil.copytree(store, copy)
    shutil.rmtree(store)
    read = subprocess.run(
        [sys.executable, "-c", READ_BACK, str(copy), run.info.run_id],
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},  # set_tracking_uri exports it
        capture_output=True,
        text=True,
    )
    assert read.returncode == 0, read.stderr[-6000:]
    assert read.stdout.strip() == "hello"


@pytest.mark.slow
def test_mlflow_server_on_a_copied_store_serves_its_artifacts(store, tmp_path):
    """The UI's way: `mlflow server` on the copy, artifacts served from `--artifacts-destination`, read over HTTP."""
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/a.txt")
    copy = tmp_path / "clone"
    shutil.copytree(store, copy)
    shutil.rmtree(store)
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{copy / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(copy / ARTIFACT_DIR), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client = mlflow.MlflowClient(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 120
        while True:
            try:
                client.search_experiments()
                break
            except Exception:
                assert time.monotonic() < deadline and server.poll() is None, "mlflow server did not start"
                time.sleep(0.5)
        assert [a.path for a in client.list_artifacts(run.info.run_id, "notes")] == ["notes/a.txt"]
        downloaded = client.download_artifacts(run.info.run_id, "notes/a.txt", str(tmp_path))
        assert Path(downloaded).read_text() == "hello"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_each_method_run_holds_only_its_predictions_and_lasts_as_long_as_its_work(store):
    _, children = evaluate_methods(store)
    client = mlflow.MlflowClient()
    for method, run_id in children.items():
        expected = {f"predictions/{benchmark}/{method}.jsonl" for benchmark in BENCHMARKS}
        assert set(artifact_files(client, run_id)) == expected
        run = client.get_run(run_id)
        assert run.info.end_time - run.info.start_time >= 300  # ms: the work ran inside the run
        assert [(i.dataset.name, i.dataset.digest) for i in run.inputs.dataset_inputs] == [("data/kb", KB_HASH)]


def test_avg_and_grouped_metrics_on_method_and_evaluation_runs(store):
    parent, children = evaluate_methods(store)
    client = mlflow.MlflowClient()
    for method, run_id in children.items():
        metrics = client.get_run(run_id).data.metrics
        assert metrics[f"{AVERAGE}/f1_recall"] == pytest.approx(sum(METHODS[method]) / 2)
        assert metrics[f"{BENCHMARKS[0]}/f1_recall"] == METHODS[method][0]
        assert metrics[f"{BENCHMARKS[0]}/kb_distribution/text"] == 3
    metrics = client.get_run(parent).data.metrics
    for method, scores in METHODS.items():
        assert metrics[f"{AVERAGE}/{method}/f1_recall"] == pytest.approx(sum(scores) / 2)
        assert metrics[f"{BENCHMARKS[1]}/{method}/f1_recall"] == scores[1]
    assert not [name for name in metrics if "." in name.split("/")[0]]  # no flat dotted names left


def test_dataset_inputs_carry_the_dvc_hashes_of_data_deps_not_code(store):
    tags = {KB_DEP: KB_HASH, f"{DEP_PREFIX}r1router/io": "f" * 32, "dvc.stage": "evaluate"}
    with mlflow.start_run() as run:
        log_data_inputs(mlflow, tags)
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("data/kb", KB_HASH)]
    assert [(tag.key, tag.value) for tag in inputs[0].tags] == [("mlflow.data.context", "dvc.dep")]


def test_table1_html_renders_tables_and_inlines_its_figures(store, tmp_path):
    results = {b: {m: {"f1_recall": s[i]} for m, s in METHODS.items()} for i, b in enumerate(BENCHMARKS)}
    written = write_report(results, tmp_path / "reports/table1.md", tmp_path / "reports/plots", {"mlflow_run_id": "r"})
    with mlflow.start_run() as run:
        log_report(written, mlflow)
    client = mlflow.MlflowClient()
    assert {"table1.md", "table1.html", "plots/f1_by_benchmark.png"} <= set(artifact_files(client, run.info.run_id))
    page = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/table1.html")
    assert "<table>" in page and page.count('src="data:image/png;base64,') == 3  # F1, KB choice, efficiency
    assert "](plots/" not in page


def test_a_registered_version_describes_its_run_data_and_numbers():
    tags = {"stage": "sft", "git_commit": "abc", f"{DEP_PREFIX}data/steps": "d" * 32, f"{DEP_PREFIX}flows/sft.py": "c"}
    text = describe_version("run123", tags, {"heldout.routing_accuracy": 0.375})
    assert "`run123`" in text and "stage `sft`" in text and "`data/steps`: `" + "d" * 32 in text
    assert "flows/sft.py" not in text and "heldout.routing_accuracy: 0.375" in text


def test_lineage_finds_an_evaluation_metric_by_its_dotted_eval_json_name(store):
    with mlflow.start_run() as run:
        mlflow.log_metric("demo_webqa/step-grpo/f1_recall", 70.0)
    experiment = mlflow.get_experiment_by_name("r1router").experiment_id
    found, metric = _by_metric(mlflow.MlflowClient(), experiment, "demo_webqa.step-grpo.f1_recall", store)
    assert found.info.run_id == run.info.run_id and metric["name"] == "demo_webqa/step-grpo/f1_recall"


def test_a_router_is_logged_and_registered_under_its_own_name_with_a_description(store, tmp_path):
    router = tmp_path / "router"
    router.mkdir()
    (router / "r1router-train.json").write_text("{}")
    tags = {"stage": "sft", "git_commit": "abc", KB_DEP: KB_HASH}
    with mlflow.start_run(tags=tags) as run:
        registered = register_router(router, "r1router-sft", run.info.run_id, DECISION, headline={"train_loss": 0.75})
    client = mlflow.MlflowClient()
    version = client.get_model_version("r1router-sft", registered["version"])
    logged = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    assert [model.name for model in logged] == ["r1router-sft"]  # not `router` for every stage
    assert f"`{run.info.run_id}`" in version.description and KB_HASH in version.description
    assert "train_loss: 0.75" in version.description
    assert "`sft` stage" in client.get_registered_model("r1router-sft").description
    files = Path(mlflow.artifacts.download_artifacts(registered["model_uri"], dst_path=str(tmp_path / "out")))
    assert (files / "artifacts" / "router" / "r1router-train.json").is_file()  # stored relative to the store

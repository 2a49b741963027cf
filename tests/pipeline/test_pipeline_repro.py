"""The whole pipeline on the smoke profile: `r1router repro` (dvc repro under a parent MLflow run) of every
stage — world, models, corpus, kb, synthesize, filter, sft, grpo, evaluate — through Prefect flows and MLflow runs.

The tests after the first build change the workspace (a param, a killed stage), so they come last, in file order.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reproduced(smoke_workspace):
    proc = smoke_workspace.r1router("repro")
    return smoke_workspace, proc


STAGES = ("world", "models", "corpus", "kb", "synthesize", "filter", "sft", "grpo", "evaluate")
METHODS = {"direct", "rag-text", "rag-table", "rag-image", "rag-all", "iterative", "prompt-router", "sft", "step-grpo"}


def _runs(ws) -> list[dict]:
    """Every MLflow run of the workspace's store with its tags, metrics and parent."""
    db = sqlite3.connect(ws.root / "mlflow.db")
    runs = []
    for run_id, name, status, start in db.execute("select run_uuid, name, status, start_time from runs"):
        tags = dict(db.execute("select key, value from tags where run_uuid = ?", (run_id,)).fetchall())
        metrics = dict(db.execute("select key, value from latest_metrics where run_uuid = ?", (run_id,)).fetchall())
        runs.append({"id": run_id, "name": name, "status": status, "start": start, "tags": tags, "metrics": metrics})
    return sorted(runs, key=lambda run: run["start"])


def _latest_stage_runs(ws) -> dict[str, dict]:
    return {run["tags"]["stage"]: run for run in _runs(ws) if "stage" in run["tags"]}


def _lock_deps(ws, stage: str) -> dict[str, str]:
    entry = yaml.safe_load((ws.root / "dvc.lock").read_text())["stages"][stage]
    return {dep["path"]: dep["md5"] for dep in entry["deps"]}


def test_repro_builds_every_stage_and_reports_recall(reproduced):
    ws, proc = reproduced
    for stage in STAGES:
        assert f"Running stage '{stage}'" in proc.stdout + proc.stderr
    # Long steps report progress through the logs (Prefect's handlers), not only a terminal bar.
    assert "train CLIP:" in proc.stdout + proc.stderr
    assert "embed text KB:" in proc.stdout + proc.stderr
    # Every stage reported to the one Prefect server `r1router repro` ran, none started a temporary API.
    assert "Starting temporary server" not in proc.stdout + proc.stderr
    assert (ws.root / ".prefect/server.log").is_file()
    world = json.loads((ws.root / "metrics/world.json").read_text())
    assert world["kb"]["text"] > 0 and world["kb"]["table"] > 0 and world["kb"]["image"] > 0
    retrieval = json.loads((ws.root / "metrics/retrieval.json").read_text())
    assert set(retrieval["recall@5"]) == {"text", "table", "image"}
    assert all(0.0 <= value <= 1.0 for value in retrieval["recall@5"].values())
    for kind in ("text", "table", "image"):
        manifest = json.loads((ws.root / f"data/kb/{kind}/manifest.json").read_text())
        assert manifest["count"] == world["kb"][kind]
        assert manifest["device"] == "cpu"


def test_second_repro_does_nothing(reproduced):
    ws, _ = reproduced
    status = ws.dvc("status")
    assert "up to date" in status.stdout
    started = time.monotonic()
    again = ws.dvc("repro")
    seconds = time.monotonic() - started
    assert "Running stage" not in again.stdout
    print(f"no-op dvc repro of {len(STAGES)} stages: {seconds:.2f} s")
    assert seconds < 30


def test_cli_search_prints_five_hits_as_json(reproduced):
    ws, _ = reproduced
    out = ws.r1router("kb", "search", "--kb", "text", "--query", "Who directed the film?", "-k", "5", "--json")
    hits = json.loads(out.stdout)
    assert len(hits) == 5
    assert all(set(hit) == {"kb", "id", "score", "text"} for hit in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_each_stage_is_a_finished_child_of_one_pipeline_run(reproduced):
    ws, _ = reproduced
    runs = _runs(ws)
    parents = [run for run in runs if run["tags"].get("r1router.kind") == "pipeline"]
    assert len(parents) == 1 and parents[0]["status"] == "FINISHED"
    stages = _latest_stage_runs(ws)
    assert set(STAGES) <= set(stages)
    for stage in STAGES:
        run = stages[stage]
        assert run["status"] == "FINISHED", stage
        assert run["tags"]["mlflow.parentRunId"] == parents[0]["id"], stage
        assert {"git_commit", "git_dirty", "params_hash", "prefect_flow_run_id"} <= set(run["tags"]), stage
        assert run["tags"]["git_dirty"] == "false", stage  # the outputs DVC rewrote do not count as edits
    prefect_db = sqlite3.connect(ws.root / ".prefect/prefect.db")
    flow_runs = {row[0] for row in prefect_db.execute("select id from flow_run")}
    assert {stages[stage]["tags"]["prefect_flow_run_id"] for stage in STAGES} <= flow_runs
    assert "recall_at_5.text" in stages["kb"]["metrics"]
    # evaluate: one child run per method under the stage's run
    methods = {
        run["tags"].get("method") for run in runs if run["tags"].get("mlflow.parentRunId") == stages["evaluate"]["id"]
    }
    assert methods == METHODS
    assert not [run for run in runs if run["status"] == "RUNNING"]


def test_every_stage_run_is_tagged_with_the_dvc_lock_hashes_of_its_deps(reproduced):
    ws, _ = reproduced
    stages = _latest_stage_runs(ws)
    for stage in STAGES:
        tags = stages[stage]["tags"]
        tagged = {key.removeprefix("dvc.dep."): value for key, value in tags.items() if key.startswith("dvc.dep.")}
        assert tagged == _lock_deps(ws, stage), stage


def test_every_eval_metric_traces_to_a_run_matching_dvc_lock(reproduced):
    ws, _ = reproduced
    results = json.loads((ws.root / "metrics/eval.json").read_text())
    evaluate = _latest_stage_runs(ws)["evaluate"]
    numbers = {
        f"{benchmark}/{method}/{name}": value
        for benchmark, by_method in results.items()
        for method, metrics in by_method.items()
        for name, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    assert numbers
    for key, value in numbers.items():
        assert evaluate["metrics"][key] == pytest.approx(value), key
    trace = json.loads(
        ws.r1router("lineage", "metrics/eval.json:demo_2wikimultihopqa.step-grpo.f1_recall", "--json").stdout
    )
    chain = [node["stage"] for node in trace["stages"]]
    assert chain[0] == "evaluate"
    for upstream in ("grpo", "sft", "filter", "synthesize", "kb", "corpus", "world", "models"):
        assert upstream in chain, (upstream, chain)
    assert trace["stages"][0]["run_id"] == evaluate["id"]


def test_evaluation_table_has_every_method_on_every_benchmark(reproduced):
    ws, _ = reproduced
    results = json.loads((ws.root / "metrics/eval.json").read_text())
    assert len(results) == 6
    for benchmark, by_method in results.items():
        assert set(by_method) == METHODS, benchmark
        for metrics in by_method.values():
            assert 0.0 <= metrics["f1_recall"] <= 100.0
            assert metrics["questions"] == 1
        assert by_method["direct"]["retrievals_per_question"] == 0
        assert by_method["rag-all"]["retrievals_per_question"] == 3
        for router in ("prompt-router", "sft", "step-grpo"):
            assert by_method[router]["routing_accuracy"] is not None
    table = (ws.root / "reports/table1.md").read_text()
    assert "prompt-router" in table and "F1-Recall" in table
    assert (ws.root / "reports/plots/f1_by_benchmark.png").stat().st_size > 0
    predictions = (ws.root / "reports/predictions/demo_infoseek/prompt-router.jsonl").read_text().splitlines()
    record = json.loads(predictions[0])
    assert {"steps", "llm_answer", "retrievals", "format_errors"} <= set(record)


def test_score_cli_prints_f1_recall_last(reproduced, tmp_path):
    ws, _ = reproduced
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text(
        json.dumps({"llm_answer": "Velmora", "answer": "Velmora"})
        + "\n"
        + json.dumps({"llm_answer": "x", "answer": "y"})
        + "\n"
    )
    out = ws.r1router("score", str(predictions), "--dataset", "demo_2wikimultihopqa")
    assert out.stdout.strip().splitlines()[-1] == "F1-Recall: 50.00"


def test_training_stages_report_and_register(reproduced):
    ws, _ = reproduced
    filtered = json.loads((ws.root / "metrics/filter.json").read_text())
    assert filtered
    for router in ("routers/sft", "routers/step-grpo"):
        assert (ws.root / router / "r1router-train.json").is_file(), router
    for curve in ("metrics/sft_curve.json", "metrics/grpo_curve.json"):
        assert json.loads((ws.root / curve).read_text()), curve
    db = sqlite3.connect(ws.root / "mlflow.db")
    registered = {name for (name,) in db.execute("select name from registered_models")}
    assert {"r1router-sft", "r1router-stepgrpo"} <= registered


def test_one_param_change_reruns_exactly_the_stages_downstream(reproduced):
    ws, _ = reproduced
    ws.set_param("profiles.smoke.grpo.seed", 1)
    status = ws.dvc("status")
    changed = {line.rstrip(":") for line in status.stdout.splitlines() if line and not line.startswith(("\t", " "))}
    assert changed == {"grpo"}, status.stdout
    proc = ws.r1router("repro")
    ran = {stage for stage in STAGES if f"Running stage '{stage}'" in proc.stdout + proc.stderr}
    assert ran == {"grpo", "evaluate"}
    assert "up to date" in ws.dvc("status").stdout


def test_a_killed_stage_resumes_to_an_identical_output(reproduced):
    """`kill -9` of synthesize after its first chunk; the re-run reuses that chunk and writes the same file."""
    ws, _ = reproduced
    out = ws.root / "data/training/trajectories.jsonl"
    before = out.read_bytes()
    chunks = ws.root / "data/cache/synth-chunks"
    for path in chunks.rglob("*"):
        if path.is_file():
            path.unlink()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dvc"), "repro", "-f", "-s", "synthesize"],
        cwd=ws.root,
        env=ws.env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 1200
    while not list(chunks.rglob("chunk-*.jsonl")):
        assert proc.poll() is None, "synthesize finished before its first chunk was seen"
        assert time.monotonic() < deadline
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(chunks.rglob("chunk-*.jsonl"))) == 1  # killed between the first chunk and the second
    ws.dvc("repro", "-s", "synthesize")
    assert out.read_bytes() == before

"""A stage that raises, is interrupted or is SIGKILLed never leaves a RUNNING run; neither does the parent run.

A second run started in the same checkout meanwhile is refused, naming the holder.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from r1router.errors import DataError
from r1router.tracking import Terminated, stage_run


def running(pid: int) -> bool:
    """True while `pid` runs; a zombie nobody reaped (init here does not) has finished."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_for(path: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.2)


def by_kind(runs: list[dict]) -> tuple[dict, dict[str, dict]]:
    [parent] = [run for run in runs if run["tags"].get("r1router.kind") == "pipeline"]
    return parent, {run["tags"]["stage"]: run for run in runs if "stage" in run["tags"]}


@pytest.fixture(scope="module")
def shared_toy(new_toy):
    """One toy project and store for the in-process tests (each looks only at the run it made)."""
    return new_toy()


@pytest.fixture
def in_process(shared_toy, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_toy.env["MLFLOW_TRACKING_URI"])
    monkeypatch.delenv("R1ROUTER_PARENT_RUN_ID", raising=False)
    return shared_toy


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, lambda: Terminated(signal.SIGTERM)])
def test_an_interrupted_stage_run_ends_failed_with_the_error_as_an_artifact(in_process, interrupt):
    toy = in_process
    with pytest.raises((KeyboardInterrupt, SystemExit)), stage_run("prep", {"repeat": 1}, root=toy.root):
        raise interrupt()
    run = toy.runs()[-1]
    assert run["status"] == "FAILED"
    error = toy.artifact(run, "error.txt")
    assert "KeyboardInterrupt" in error or "terminated by SIGTERM" in error
    assert "dvc.out.data/prep" not in run["tags"]  # outs are tagged only on success
    assert run["tags"]["dvc.dep.raw/toy"].endswith(".dir")  # deps are tagged from the start


def test_a_stage_that_did_not_write_a_declared_out_fails_its_run(in_process):
    toy = in_process
    missing_out = pytest.raises(DataError, match="stage 'train' finished without writing this out")
    with missing_out, stage_run("train", {"scale": 3}, root=toy.root):
        pass  # model.txt never written
    run = toy.runs()[-1]
    assert run["status"] == "FAILED"
    assert "finished without writing this out" in toy.artifact(run, "error.txt")
    assert run["tags"]["dvc.dep.data/prep/a.txt"] == "missing"


def test_a_stage_outside_dvc_yaml_runs_untracked_by_dvc(in_process):
    toy = in_process
    with stage_run("not-in-dvc-yaml", {"a": 1}, root=toy.root) as mlflow:
        mlflow.log_metric("m", 1.0)
    run = toy.runs()[-1]
    assert run["status"] == "FINISHED" and run["tags"]["dvc.tracked"] == "false"
    assert not any(key.startswith(("dvc.dep.", "dvc.out.")) for key in run["tags"])


@pytest.mark.slow
def test_a_stage_that_raises_fails_its_run_and_the_parent_run(toy):
    proc = toy.r1router("repro", "prep", check=False, TOY_FAIL="prep")
    assert proc.returncode != 0
    parent, stages = by_kind(toy.runs())
    assert stages["prep"]["status"] == "FAILED"
    assert "RuntimeError: toy failure in prep" in toy.artifact(stages["prep"], "error.txt")
    assert parent["status"] == "FAILED"
    assert f"failed stage runs: prep ({stages['prep']['id']})" in toy.artifact(parent, "error.txt")
    assert f"failed stage runs: prep ({stages['prep']['id']})" in proc.stderr
    assert "toy failure in prep" in toy.artifact(parent, "dvc-repro.log")
    assert parent["tags"]["dvc.exit_code"] == str(proc.returncode)


@pytest.mark.slow
def test_sigterm_to_repro_stops_the_stage_and_fails_both_runs(toy):
    repro = toy.popen(sys.executable, "-m", "r1router.cli", "repro", "prep", TOY_HANG="prep")
    wait_for(toy.root / "prep.pid")
    stage_pid = int((toy.root / "prep.pid").read_text())
    repro.send_signal(signal.SIGTERM)
    _, err = repro.communicate(timeout=180)
    assert repro.returncode == 128 + signal.SIGTERM, err
    assert not running(stage_pid)  # the signal reached the stage through dvc's process group
    parent, stages = by_kind(toy.runs())
    assert stages["prep"]["status"] == "FAILED"
    assert "terminated by SIGTERM" in toy.artifact(stages["prep"], "error.txt")
    assert parent["status"] == "FAILED"
    assert "terminated by SIGTERM" in toy.artifact(parent, "error.txt")


@pytest.mark.slow
def test_a_sigkilled_stage_run_is_closed_failed_by_the_parent(toy):
    proc = toy.r1router("repro", "prep", check=False, TOY_KILL9="prep")
    assert proc.returncode != 0
    parent, stages = by_kind(toy.runs())
    assert stages["prep"]["status"] == "FAILED"
    assert "ended without closing this run" in toy.artifact(stages["prep"], "error.txt")
    assert parent["tags"]["r1router.orphans_closed"] == stages["prep"]["id"]
    assert parent["status"] == "FAILED"


@pytest.mark.slow
def test_a_second_repro_is_refused_in_the_same_checkout_and_runs_apart_in_another(new_toy):
    """While a run hangs in one checkout, a second there is refused naming the holder; another checkout runs."""
    first, other = new_toy(), new_toy()
    (other.root / "raw" / "toy" / "a.txt").write_text("gamma\n")
    other.commit("other data")
    holder = first.popen(sys.executable, "-m", "r1router.cli", "repro", TOY_HANG="prep")
    try:
        wait_for(first.root / "prep.pid")
        runs_before = first.runs()

        second = first.r1router("repro", check=False)
        assert second.returncode == 2
        assert "another pipeline run holds this checkout" in second.stderr
        assert f"pid {holder.pid}" in second.stderr and "command: r1router repro" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.runs() == runs_before  # the refused run opened no MLflow run and touched no stage

        elsewhere = other.r1router("repro")  # another checkout: its own lock, store and outputs
        assert elsewhere.returncode == 0, elsewhere.stderr
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=180)
    assert (other.root / "data" / "prep" / "a.txt").read_text() == "GAMMA\n" * 2
    assert not (first.root / "data" / "prep" / "a.txt").exists()  # the stopped run's output never appeared
    parent, stages = by_kind(other.runs())
    assert parent["status"] == "FINISHED" and set(stages) == {"prep", "train", "evaluate"}
    assert [run["status"] for run in first.runs() if run["tags"].get("r1router.kind") == "pipeline"] == ["FAILED"]

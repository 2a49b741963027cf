"""`r1router repro` and the stage flows refuse to run while another pipeline run holds the checkout."""

from __future__ import annotations

import os

import pytest

from r1router.locking import TOKEN_ENV, PipelineLocked, pipeline_lock


def test_repro_is_refused_while_another_run_holds_the_checkout(toy):
    with pipeline_lock(toy.root, command="dvc repro (the other run)"):
        proc = toy.r1router("repro", check=False)  # toy.env carries no lock token: an unrelated process
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"another pipeline run holds this checkout: pid {os.getpid()}" in proc.stderr
    assert "command: dvc repro (the other run)" in proc.stderr
    assert not (toy.root / "dvc.lock").exists()  # dvc never started
    assert not (toy.root / "mlflow.db").exists()  # and no parent run was opened


def test_a_stage_flow_is_refused_while_another_run_holds_the_checkout(toy, monkeypatch):
    from flows.stage import tracked_stage

    monkeypatch.chdir(toy.root)
    refused = pytest.raises(PipelineLocked, match=r"command: r1router repro \(the other run\)")
    with pipeline_lock(toy.root, command="r1router repro (the other run)"):
        token = os.environ.pop(TOKEN_ENV)  # this flow is not a child of that run
        try:
            with refused, tracked_stage("prep"):
                pytest.fail("the stage body ran under another run's lock")
        finally:
            os.environ[TOKEN_ENV] = token
    assert not (toy.root / "mlflow.db").exists()

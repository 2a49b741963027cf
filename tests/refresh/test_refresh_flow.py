"""`flows.refresh` end to end on loopback: real Prefect flow runs, real `dvc repro`, a local and an HTTP corpus."""

from __future__ import annotations

import json

import mlflow
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.testing.utilities import prefect_test_harness

from flows.refresh import refresh_flow
from r1router.tracking import EXPERIMENT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_api():
    """A temporary Prefect API and database for this module's flow runs."""
    with prefect_test_harness(server_startup_timeout=None):
        yield


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def refresh_runs(uri: str) -> list:
    """The MLflow runs named `refresh`, oldest first, each with its child runs' names."""
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id], order_by=["start_time ASC"])
    children = {}
    for run in runs:
        children.setdefault(run.data.tags.get("mlflow.parentRunId"), []).append(run.info.run_name)
    return [(run, children.get(run.info.run_id, [])) for run in runs if run.info.run_name == "refresh"]


def refresh(repo) -> tuple[dict, list[str]]:
    """One refresh tick: its result and the tasks it ran (by name, in order)."""
    state = refresh_flow(root=str(repo.root), return_state=True)
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    tasks = [run.name.rsplit("-", 1)[0] for run in sorted(runs, key=lambda run: run.expected_start_time)]
    return state.result(), tasks


def test_only_the_stages_downstream_of_a_changed_corpus_run(
    toy_repo, corpus_server, tmp_path, prefect_api, mlflow_store
):
    upstream = tmp_path / "upstream" / "c1.txt"
    upstream.parent.mkdir()
    upstream.write_text("one\n")
    url = corpus_server.put("/c2.txt", b"two\n")
    toy_repo.set_sources(
        {
            "corpus1": {"uri": upstream.as_uri(), "dest": "corpus/c1.txt"},
            "corpus2": {"uri": url, "dest": "corpus/c2.txt"},
        }
    )

    # First tick: nothing recorded yet, so both are fetched; the content is what DVC already has: nothing runs.
    result, _ = refresh(toy_repo)
    assert result == {"changed": ["corpus1", "corpus2"], "stages": []}
    assert toy_repo.ran() == []
    assert toy_repo.state.is_file()

    # Nothing changed: fingerprints only (HEAD for the URL), no fetch, no dvc repro.
    result, tasks = refresh(toy_repo)
    assert result == {"changed": [], "stages": []}
    assert tasks == ["fingerprint-source", "fingerprint-source"]
    assert corpus_server.requests[("GET", "/c2.txt")] == 1
    assert toy_repo.ran() == []

    # The local corpus changes: exactly a (reads it) and c (reads a) run, not b.
    upstream.write_text("ONE\n")
    result, tasks = refresh(toy_repo)
    assert result == {"changed": ["corpus1"], "stages": ["a", "c"]}
    assert tasks == ["fingerprint-source", "fingerprint-source", "fetch-source", "dvc-repro-downstream"]
    assert toy_repo.ran() == ["a", "c"]
    assert (toy_repo.root / "out/c.txt").read_text() == "ONE\ntwo\n"
    # One MLflow run per refresh that changed something, tagged with the new data version; `dvc repro`'s
    # pipeline run nests under it.
    run, children = refresh_runs(mlflow_store)[-1]
    recorded = json.loads(toy_repo.state.read_text())["sources"]["corpus1"]["fingerprint"]
    assert run.info.status == "FINISHED" and children == ["pipeline"]
    assert run.data.tags["refresh.changed"] == "corpus1"
    assert run.data.tags["refresh.source.corpus1"] == recorded
    assert run.data.tags["refresh.stages"] == "a,c"

    # The HTTP corpus gets a new ETag: exactly b and c run.
    corpus_server.put("/c2.txt", b"TWO\n")
    result, _ = refresh(toy_repo)
    assert result == {"changed": ["corpus2"], "stages": ["b", "c"]}
    assert toy_repo.ran() == ["b", "c"]
    assert (toy_repo.root / "out/c.txt").read_text() == "ONE\nTWO\n"

    assert refresh(toy_repo)[0] == {"changed": [], "stages": []}
    assert len(refresh_runs(mlflow_store)) == 3  # the first tick, corpus1, corpus2: none for no change


def test_a_failed_refresh_records_nothing_so_the_next_tick_retries(toy_repo, corpus_server, prefect_api, mlflow_store):
    url = corpus_server.put("/c2.txt", b"two\n")
    toy_repo.set_sources({"corpus2": {"uri": url, "dest": "corpus/c2.txt"}})
    assert refresh(toy_repo)[0] == {"changed": ["corpus2"], "stages": []}
    recorded = toy_repo.state.read_bytes()

    # The download fails (after its one retry): the old corpus stays, nothing runs, nothing is recorded.
    corpus_server.put("/c2.txt", b"TWO\n", fail_get=True)
    with pytest.raises(OSError, match="500"):
        refresh_flow(root=str(toy_repo.root))
    assert corpus_server.requests[("GET", "/c2.txt")] == 1 + 2
    assert (toy_repo.root / "corpus/c2.txt").read_text() == "two\n"
    assert toy_repo.state.read_bytes() == recorded
    assert toy_repo.ran() == []

    # The download works but a stage fails in `dvc repro`: still nothing recorded.
    corpus_server.put("/c2.txt", b"FAIL\n")
    with pytest.raises(Exception, match="dvc repro exited with code"):
        refresh_flow(root=str(toy_repo.root))
    assert toy_repo.state.read_bytes() == recorded
    assert toy_repo.ran() == []
    assert [run.info.status for run, _ in refresh_runs(mlflow_store)] == ["FINISHED", "FAILED", "FAILED"]

    # Fixed upstream: the next tick sees the change again and completes it.
    corpus_server.put("/c2.txt", b"TWO\n")
    assert refresh(toy_repo)[0] == {"changed": ["corpus2"], "stages": ["b", "c"]}
    assert toy_repo.ran() == ["b", "c"]
    assert toy_repo.state.read_bytes() != recorded

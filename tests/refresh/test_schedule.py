"""`r1router schedule`: the refresh deployment and its cron schedule, built and really served."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.schedule import DEPLOYMENT, SERVED_ROOT_ENV, refresh_deployment, served_refresh_flow
from r1router.errors import ConfigError
from r1router.prefect_server import healthy


def test_deployment_runs_refresh_on_the_cron_for_the_repo_pinned_at_serve_time(tmp_path):
    deployment = refresh_deployment("0 3 * * *", tmp_path)
    assert deployment.name == DEPLOYMENT
    assert deployment.entrypoint == "flows.schedule.served_refresh_flow"
    assert deployment.parameters == {}  # the repo is not a run parameter: no API caller can choose another
    assert deployment.enforce_parameter_schema  # and a run asking for any parameter is refused
    assert str(tmp_path.resolve()) in deployment.description
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 3 * * *"
    assert schedule.active


def test_the_served_flow_refuses_to_run_without_a_pinned_repo(monkeypatch):
    monkeypatch.delenv(SERVED_ROOT_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"{SERVED_ROOT_ENV} is not set"):
        served_refresh_flow.fn()


def test_a_bad_cron_is_refused_before_anything_is_served(tmp_path):
    with pytest.raises(ValueError, match="Invalid cron string"):
        refresh_deployment("every night", tmp_path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.slow
def test_serve_starts_a_server_registers_the_schedule_and_executes_runs(toy_repo, tmp_path):
    """`schedule serve` with no PREFECT_API_URL: its own loopback server, the deployment, scheduled runs,
    and a run triggered now executed by the served runner (the toy corpus changed, so a and c re-run)."""
    upstream = tmp_path / "c1.txt"
    upstream.write_text("ONE\n")  # differs from the toy repo's corpus/c1.txt
    toy_repo.set_sources({"corpus1": {"uri": str(upstream), "dest": "corpus/c1.txt"}})
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        PREFECT_UI_ENABLED="false",
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    )
    cron = "0 0 1 1 *"  # far away: the scheduled runs exist but none fires during the test
    command = [sys.executable, "-m", "r1router.cli", "schedule", "serve", "--cron", cron]
    serve = subprocess.Popen(
        [*command, "--root", str(toy_repo.root), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a hung shutdown is killed with its server
    )
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
            _wait(lambda: healthy(api_url), 180, "the Prefect server")
            deployment = _wait(
                lambda: next(iter(client.read_deployments()), None) if healthy(api_url) else None,
                120,
                "the deployment",
            )
            assert deployment.name == DEPLOYMENT
            assert [s.schedule.cron for s in deployment.schedules] == [cron]
            assert deployment.parameters == {}
            by_deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            scheduled = _wait(
                lambda: [r for r in client.read_flow_runs(deployment_filter=by_deployment) if r.auto_scheduled],
                120,
                "runs created by the scheduler",
            )
            assert all(r.expected_start_time.strftime("%m-%d %H:%M") == "01-01 00:00" for r in scheduled)

            run = client.create_flow_run_from_deployment(deployment.id)
            final = _wait(
                lambda: (state := client.read_flow_run(run.id).state) and state.is_final() and state,
                240,
                "the triggered run to finish",
            )
            assert final.type == StateType.COMPLETED, final

            # Another repo as a run parameter: the served flow takes none, so such a run fails before it starts.
            other = client.create_flow_run_from_deployment(deployment.id, parameters={"root": str(tmp_path)})
            refused = _wait(
                lambda: (state := client.read_flow_run(other.id).state) and state.is_final() and state,
                240,
                "the run with a root parameter to end",
            )
            assert refused.type != StateType.COMPLETED, refused
        assert toy_repo.ran() == ["a", "c"]
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            output, _ = serve.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            # Kill the group, not just `serve`: an orphaned server would keep the stdout pipe open
            # and `communicate` would wait on it forever.
            os.killpg(serve.pid, signal.SIGKILL)
            output, _ = serve.communicate()
            raise AssertionError(f"`schedule serve` did not stop within 120 s of SIGINT:\n{output}") from None
    assert not healthy(api_url), "the server started by `schedule serve` outlived it"
    assert "corpus-refresh" in output

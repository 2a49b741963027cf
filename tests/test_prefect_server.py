"""`r1router.prefect_server`: a real `prefect server start` on loopback, started and stopped around a block."""

from __future__ import annotations

import socket

import pytest

from r1router.errors import R1RouterError
from r1router.prefect_server import free_port, healthy, local_server, server_env, shared_api
from r1router.repro import _env


@pytest.fixture
def prefect_home(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    return tmp_path / "prefect-home"


def test_shared_api_serves_from_the_prefect_home_for_the_block_and_stops_after(prefect_home, tmp_path):
    with shared_api(tmp_path) as api_url:
        assert api_url is not None and api_url.startswith("http://127.0.0.1:")
        assert healthy(api_url)
        assert (prefect_home / "prefect.db").is_file()
        port = int(api_url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(R1RouterError, match="already serves a Prefect API"), local_server(port):
            pass
    assert not healthy(api_url)
    assert (prefect_home / "server.log").stat().st_size > 0


def test_shared_api_uses_the_configured_api_and_starts_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    with shared_api(tmp_path) as api_url:
        assert api_url is None
    assert not (tmp_path / "prefect-home").exists()


def test_a_server_that_cannot_bind_is_reported_with_its_log(prefect_home, tmp_path):
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        log = tmp_path / "server.log"
        refused = rf"exited with \d+ before it was ready; its output is in {log}"
        with pytest.raises(R1RouterError, match=refused), local_server(port, timeout=120, log=log):
            pass


def test_a_server_started_here_points_its_ui_at_its_own_port_with_analytics_off():
    env = server_env("http://127.0.0.1:4321/api", {"PATH": "/bin", "PREFECT_UI_API_URL": "http://127.0.0.1:4200/api"})
    assert env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4321/api"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false" and env["PATH"] == "/bin"


def test_stages_log_to_the_repro_server_without_links_and_to_a_configured_one_with_links(monkeypatch):
    monkeypatch.setenv("PREFECT_LOGGING_TO_API_ENABLED", "false")  # as the Makefile exports it
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    temporary = _env("http://127.0.0.1:4321/api")
    assert temporary["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"
    assert temporary["PREFECT_LOGGING_TO_API_ENABLED"] == "true" and temporary["PREFECT_UI_URL"] == ""
    monkeypatch.setenv("PREFECT_API_URL", "http://prefect.example:4200/api")
    configured = _env(None)
    assert configured["PREFECT_LOGGING_TO_API_ENABLED"] == "true" and "PREFECT_UI_URL" not in configured

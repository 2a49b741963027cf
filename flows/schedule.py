"""Serve `flows.refresh` as a Prefect deployment on a cron schedule (`r1router schedule serve`).

Prefect's scheduler service runs only in a real server, never in the temporary
API that a plain flow run starts (Prefect 3 leaves it out of ephemeral mode),
so a scheduled deployment needs one: the server at `PREFECT_API_URL` when that
is set, else a `prefect server start` on loopback that is started here and
stopped when serving ends. Nobody has to start a server by hand.

The deployment's entrypoint is the module path `flows.refresh.refresh_flow`
(not a file path), so the runner finds the flow from any working directory;
the repo to refresh is the deployment's `root` parameter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import EntrypointType
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.refresh import refresh_flow
from r1router.errors import R1RouterError

DEPLOYMENT = "corpus-refresh"


def refresh_deployment(cron: str, root: str | Path = ".", name: str = DEPLOYMENT) -> RunnerDeployment:
    """The deployment `serve` registers: `refresh_flow(root)` on `cron` (UTC). A bad cron raises here."""
    return refresh_flow.to_deployment(
        name=name,
        cron=cron,
        parameters={"root": str(Path(root).resolve())},
        entrypoint_type=EntrypointType.MODULE_PATH,
        description="Fingerprint the corpus sources; re-run the DVC stages downstream of the changed ones.",
    )


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def local_server(port: int, startup_timeout: float) -> Iterator[str]:
    """Run `prefect server start` on 127.0.0.1:`port` for the block; yield its API URL."""
    api_url = f"http://127.0.0.1:{port}/api"
    if _healthy(api_url):
        raise R1RouterError(f"port {port} already serves a Prefect API: set PREFECT_API_URL={api_url} to use it")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _healthy(api_url):
            if server.poll() is not None:
                raise R1RouterError(f"`{' '.join(command[1:])}` exited with {server.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise R1RouterError(f"the Prefect server on port {port} was not ready after {startup_timeout:.0f} s")
            time.sleep(0.5)
        yield api_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def interrupt_stops_serving() -> Iterator[None]:
    """Make SIGINT raise KeyboardInterrupt at once while serving.

    Why: `asyncio.run` turns the first SIGINT into a cancel of its main task,
    and Prefect's runner can absorb that cancel: `schedule serve` kept polling
    for two minutes after a SIGINT in the test suite. asyncio installs that
    behaviour only over Python's default handler, so any other handler keeps
    Ctrl-C a plain KeyboardInterrupt, which `prefect.serve` handles by
    shutting down.
    """
    previous = signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def serve_refresh(cron: str, root: str | Path = ".", name: str = DEPLOYMENT, port: int = 4200) -> None:
    """Register the refresh deployment with `cron` and execute its runs until interrupted."""
    deployment = refresh_deployment(cron, root, name)
    if os.environ.get("PREFECT_API_URL"):
        with interrupt_stops_serving():
            serve(deployment)
        return
    startup = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
    with local_server(port, startup) as api_url:
        os.environ["PREFECT_API_URL"] = api_url  # inherited by the runner's flow-run processes
        try:
            with temporary_settings(updates={PREFECT_API_URL: api_url}), interrupt_stops_serving():
                serve(deployment)
        finally:
            os.environ.pop("PREFECT_API_URL", None)

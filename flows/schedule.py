"""Serve `flows.refresh` as a Prefect deployment on a cron schedule (`r1router schedule serve`).

Prefect's scheduler service runs only in a real server, never in the temporary
API that a plain flow run starts (Prefect 3 leaves it out of ephemeral mode),
so a scheduled deployment needs one: the server at `PREFECT_API_URL` when that
is set, else a `prefect server start` on loopback (`r1router.prefect_server`)
that runs while serving. Nobody has to start a server by hand.

The deployment's entrypoint is the module path `flows.refresh.refresh_flow`
(not a file path), so the runner finds the flow from any working directory;
the repo to refresh is the deployment's `root` parameter.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import EntrypointType
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.refresh import refresh_flow
from r1router.prefect_server import local_server, startup_timeout

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
    with local_server(port, startup_timeout()) as api_url:
        os.environ["PREFECT_API_URL"] = api_url  # inherited by the runner's flow-run processes
        try:
            with temporary_settings(updates={PREFECT_API_URL: api_url}), interrupt_stops_serving():
                serve(deployment)
        finally:
            os.environ.pop("PREFECT_API_URL", None)

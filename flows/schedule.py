"""Serve `flows.refresh` as a Prefect deployment on a cron schedule (`r1router schedule serve`).

Prefect's scheduler service runs only in a real server, never in the temporary
API that a plain flow run starts (Prefect 3 leaves it out of ephemeral mode),
so a scheduled deployment needs one: the server at `PREFECT_API_URL` when that
is set, else a `prefect server start` on loopback (`r1router.prefect_server`)
that runs while serving. Nobody has to start a server by hand.

The deployment's entrypoint is the module path `flows.schedule.served_refresh_flow`
(not a file path), so the runner finds the flow from any working directory.

Trust model: the Prefect API has no authentication and listens on loopback, so
anyone on this machine can trigger a run. The repo a run refreshes is therefore
pinned when serving starts (`--root`, in the serving process's environment,
which the runner's flow-run processes inherit), not a run parameter: the
served flow takes no parameters, so a triggered run can refresh the served
repo now but never run `dvc repro` in a directory of the caller's choosing.
Serve on a single-user machine, or behind your own authenticating proxy.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from prefect import flow, serve
from prefect.deployments.runner import RunnerDeployment
from prefect.flows import EntrypointType
from prefect.settings import PREFECT_API_URL, PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

from flows.refresh import refresh_flow
from r1router.errors import ConfigError
from r1router.prefect_server import client_env, local_server, startup_timeout

DEPLOYMENT = "corpus-refresh"
SERVED_ROOT_ENV = "R1ROUTER_SERVED_ROOT"  # the repo `schedule serve` pinned, for its runs


@flow(name="served-refresh", persist_result=False)
def served_refresh_flow() -> dict[str, list[str]]:
    """`refresh_flow` on the repo pinned by `schedule serve`; no parameters, so a caller cannot choose another."""
    root = os.environ.get(SERVED_ROOT_ENV)
    if not root:
        raise ConfigError(f"{SERVED_ROOT_ENV} is not set: this flow runs only under `r1router schedule serve`")
    return refresh_flow(root)


def refresh_deployment(cron: str, root: str | Path = ".", name: str = DEPLOYMENT) -> RunnerDeployment:
    """The deployment `serve` registers: the refresh of `root` on `cron` (UTC). A bad cron raises here."""
    return served_refresh_flow.to_deployment(
        name=name,
        cron=cron,
        entrypoint_type=EntrypointType.MODULE_PATH,
        description=(
            f"Fingerprint the corpus sources of {Path(root).resolve()}; re-run the DVC stages downstream of the "
            "changed ones. The repo is pinned when serving starts, not a run parameter."
        ),
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
    """Register the refresh deployment with `cron` and execute its runs until interrupted.

    Against the configured `PREFECT_API_URL`, else a server on `port` that lives
    while serving; either way the runs' logs go to that server, and the links
    Prefect prints lead to its UI, which is up as long as runs are.
    """
    deployment = refresh_deployment(cron, root, name)
    os.environ[SERVED_ROOT_ENV] = str(Path(root).resolve())  # inherited by the runner's flow-run processes
    configured = os.environ.get("PREFECT_API_URL")
    server = nullcontext(configured) if configured else local_server(port, startup_timeout())
    with server as api_url, reporting_to(api_url), interrupt_stops_serving():
        serve(deployment)


@contextmanager
def reporting_to(api_url: str) -> Iterator[None]:
    """For the block, this process and the flow-run processes it starts report to `api_url`, logs included."""
    settings = client_env(api_url, links=True)
    previous = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)  # inherited by the runner's flow-run processes
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url, PREFECT_LOGGING_TO_API_ENABLED: True}):
            yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

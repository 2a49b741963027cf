"""A Prefect server on loopback for the life of a block, started and stopped here.

Two users need one. `r1router schedule serve`: Prefect's scheduler runs only in
a real server, never in the temporary API of a plain flow run. `r1router
repro`: without a server every stage process starts and stops its own
temporary API (8-20 s each on 2 cores, measured), so one server shared by all
stages of a `dvc repro` saves that per stage. A stage run alone
(`python -m flows.kb`, plain `dvc repro`) still gets Prefect's temporary API.

A server started here serves a UI that calls the API on the port chosen
(`PREFECT_UI_API_URL`; Prefect's UI otherwise calls port 4200) and runs with
analytics off (their writes made SQLite report "database is locked"). Processes
that report to a real server send their logs to it (`client_env`), which the
temporary API of a lone stage run does not get: it disappears with the run.

Only the command line of `prefect server start` is used here, so importing
this module does not load Prefect.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path

from r1router.errors import R1RouterError

STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


def healthy(api_url: str) -> bool:
    """True when `api_url` answers Prefect's health check."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def free_port() -> int:
    """A loopback port nothing listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(api_url: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server answering at `api_url`: its UI calls that URL, analytics off unless set."""
    server = {**(os.environ if env is None else env), "PREFECT_UI_API_URL": api_url}
    server.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return server


def client_env(api_url: str, *, links: bool) -> dict[str, str]:
    """Settings for a process that reports to the server at `api_url`: its logs go to that server's API.

    `links=False` for a server that stops with the run (the one `r1router repro`
    starts): Prefect would print "View at <its UI>" links into logs that outlive
    it, so none are printed; browse the runs later as the README says.
    """
    env = {"PREFECT_API_URL": api_url, "PREFECT_LOGGING_TO_API_ENABLED": "true"}
    if not links:
        env["PREFECT_UI_URL"] = ""  # no UI URL, no links (prefect.utilities.urls.url_for)
    return env


def startup_timeout() -> float:
    """Prefect's own setting for its temporary server, so one knob covers both on a slow machine."""
    return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", STARTUP_TIMEOUT_S))


@contextmanager
def local_server(
    port: int,
    timeout: float = STARTUP_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    """Run `prefect server start` on 127.0.0.1:`port` for the block; yield its API URL.

    The server gets its own session, so a Ctrl-C meant for the pipeline does not
    stop it while stages are still reporting their final states; it is stopped
    here when the block ends. Its output goes to `log` when given.
    """
    api_url = f"http://127.0.0.1:{port}/api"
    if healthy(api_url):
        raise R1RouterError(f"port {port} already serves a Prefect API: set PREFECT_API_URL={api_url} to use it")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") if log is not None else nullcontext() as output:
        server = subprocess.Popen(
            command,
            env=server_env(api_url, env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not healthy(api_url):
                if server.poll() is not None:
                    where = f"; its output is in {log}" if log is not None else ""
                    started = " ".join(command[1:])
                    raise R1RouterError(f"`{started}` exited with {server.returncode} before it was ready{where}")
                if time.monotonic() > deadline:
                    raise R1RouterError(f"the Prefect server on port {port} was not ready after {timeout:.0f} s")
                time.sleep(0.25)
            yield api_url
        finally:
            server.terminate()
            try:
                server.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextmanager
def shared_api(root: Path) -> Iterator[str | None]:
    """The Prefect API that every stage of one pipeline run reports to.

    `PREFECT_API_URL` from the environment wins (yield None: nothing to pass on).
    Otherwise a server with the checkout's Prefect home (`.prefect/`, where a
    stage's temporary API would keep its database too, unless `PREFECT_HOME`
    says otherwise) runs for the block, logging to `.prefect/server.log`.
    """
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    home = Path(os.environ.get("PREFECT_HOME", root / ".prefect"))
    env = {**os.environ, "PREFECT_HOME": str(home)}
    with local_server(free_port(), startup_timeout(), env, home / "server.log") as api_url:
        yield api_url

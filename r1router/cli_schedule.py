"""`r1router schedule`: the scheduled corpus refresh (`flows.refresh`), served or run once.

The only CLI commands that reach into Prefect; they import `flows` when they
run, so the rest of the CLI (and the core package) never loads Prefect.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

schedule_app = typer.Typer(help="Scheduled corpus refresh: re-run the stages downstream of a changed corpus.")

RootOption = Annotated[Path, typer.Option(help="the DVC repo to refresh (its params.yaml names the sources)")]


@schedule_app.command("serve")
def serve(
    cron: Annotated[str, typer.Option(help='when to refresh, a cron expression in UTC, e.g. "0 3 * * *"')],
    root: RootOption = Path("."),
    name: Annotated[str | None, typer.Option(help="deployment name (default: corpus-refresh)")] = None,
    port: Annotated[int, typer.Option(help="port for the local Prefect server, if PREFECT_API_URL is unset")] = 4200,
) -> None:
    """Serve the refresh flow as a Prefect deployment on `--cron` until interrupted."""
    from flows.schedule import DEPLOYMENT, serve_refresh

    serve_refresh(cron, root, name=name or DEPLOYMENT, port=port)


@schedule_app.command("run-once")
def run_once(root: RootOption = Path(".")) -> None:
    """Refresh now: fingerprint every source, fetch the changed ones, re-run what depends on them."""
    from flows.refresh import refresh_flow

    typer.echo(json.dumps(refresh_flow(root=str(root)), indent=2))

"""`r1router repro` and `r1router lineage`: the pipeline as one tracked run, and a number traced to its inputs."""

from __future__ import annotations

from typing import Annotated

import typer


def repro(ctx: typer.Context) -> None:
    """`dvc repro [ARGS]` under the pipeline lock and one parent MLflow run (every stage run is its child)."""
    from r1router.repro import ReproFailed, run_repro

    try:
        run_id = run_repro(ctx.args)
    except ReproFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.returncode) from None
    typer.echo(f"pipeline run {run_id} FINISHED")


def lineage(
    query: Annotated[str, typer.Argument(help="an MLflow run id, a metric name, or metrics/eval.json:KEY")],
    as_json: Annotated[bool, typer.Option("--json", help="print the chain as JSON")] = False,
) -> None:
    """Trace a benchmark number back through the stage runs: input hashes, params and code of each."""
    from r1router.lineage_trace import format_lineage, trace

    result = trace(query)
    typer.echo(result.to_json() if as_json else format_lineage(result))


def register(app: typer.Typer) -> None:
    app.command("repro", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(repro)
    app.command("lineage")(lineage)

"""`r1router repro`, `lineage` and `deps`: the pipeline as one tracked run, a number traced to its inputs, code deps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def repro(ctx: typer.Context) -> None:
    """`dvc repro [ARGS]` under the pipeline lock and one parent MLflow run (every stage run is its child).

    Corpus sources the profile names but the checkout lacks are fetched first (a fresh clone of the
    release profile copies the released file in), so the stages that read them can run.
    """
    from r1router.dvcfile import is_dvc_project
    from r1router.refresh import fetch_missing
    from r1router.repro import ReproFailed, run_repro

    try:
        if is_dvc_project(Path(".")):  # outside a project run_repro says so, writing nothing
            for name in fetch_missing("."):
                typer.echo(f"fetched missing corpus source {name}", err=True)
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


def deps(
    write: Annotated[bool, typer.Option("--write", help="rewrite dvc.yaml's code deps as derived")] = False,
) -> None:
    """Check (default) or write each stage's code deps in dvc.yaml: the import closure of its flow.

    Check exits 1 naming every stage whose list misses an imported file or lists one it does not import.
    """
    from r1router.codedeps import check_dvc_yaml, write_dvc_yaml

    if write:
        changed = write_dvc_yaml()
        typer.echo(f"dvc.yaml: code deps rewritten for {', '.join(changed)}" if changed else "dvc.yaml: up to date")
        return
    drifts = check_dvc_yaml()
    for found in drifts:
        typer.echo(found.describe(), err=True)
    if drifts:
        typer.echo("run `r1router deps --write` to derive them", err=True)
        raise typer.Exit(1)
    typer.echo("dvc.yaml: every stage's code deps match its import closure")


def register(app: typer.Typer) -> None:
    app.command("repro", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(repro)
    app.command("lineage")(lineage)
    app.command("deps")(deps)

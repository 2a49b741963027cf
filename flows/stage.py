"""What every stage flow does around its tasks: hold the pipeline lock, read its params, register the profile's
own KB kinds, open its MLflow run."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect.runtime import flow_run

from r1router.config import metrics_file, stage_params
from r1router.io import write_json
from r1router.kb.kinds import register_profile_kinds
from r1router.tracking import locked_checkout, stage_run


@contextmanager
def tracked_stage(stage: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """Yield `(params, mlflow)` inside an MLflow run tagged with this Prefect flow run.

    The stage holds the checkout's pipeline lock (or rides on the lock of the
    `r1router repro` / pipeline flow that started it), so a second pipeline run
    on this checkout is refused instead of overwriting this one's outputs.
    """
    with locked_checkout(command=f"python -m flows.{stage}"):
        params = stage_params(stage)
        register_profile_kinds()
        with stage_run(stage, params, tags={"prefect_flow_run_id": str(flow_run.id)}) as mlflow:
            yield params, mlflow


def publish_metrics(name: str, metrics: Mapping[str, Any], tracking: Any) -> Path:
    """Write the stage's metrics file (`paths.metrics.<name>` in params.yaml), log its numbers and the file,
    and show them on the Prefect flow run (`publish_summary`)."""
    path = metrics_file(name)
    write_json(path, metrics)
    flat = numeric_metrics(metrics)
    tracking.log_metrics(flat)
    tracking.log_artifact(str(path))
    publish_summary(name, metrics_markdown(name, flat), tracking)
    return path


def numeric_metrics(metrics: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, float]:
    """Flatten nested numeric values into MLflow metric names (`a.b`, or `a/b` with `sep="/"`); drop the rest.

    MLflow's UI groups a run's charts by the part of a metric name before its first `/`.
    """
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}".replace("@", "_at_")
        if isinstance(value, Mapping):
            flat.update(numeric_metrics(value, name + sep, sep))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def metrics_markdown(title: str, flat: Mapping[str, float]) -> str:
    """A stage's numbers as a Markdown table, one row per metric."""
    rows = [f"| `{name}` | {value:g} |" for name, value in flat.items()]
    return "\n".join([f"# {title}", "", "| Metric | Value |", "| :--- | ---: |", *rows]) + "\n"


def publish_summary(stage: str, markdown: str, tracking: Any) -> None:
    """Attach `markdown` to this Prefect flow run as its artifact `<stage>-summary`, naming the MLflow run.

    A reviewer in Prefect's UI then reads what the stage produced on the flow run
    itself, and finds the MLflow run that holds its files and metrics.
    """
    from prefect.artifacts import create_markdown_artifact

    run = tracking.active_run()
    where = f"MLflow run `{run.info.run_id}` (experiment {run.info.experiment_id})"
    create_markdown_artifact(markdown + f"\n{where}\n", key=f"{stage}-summary", description=f"{stage}: {where}")

"""Flow `pipeline`: every dvc.yaml stage's flow as a subflow, parents first.

The DAG is not written here: at run time the flow reads dvc.yaml, derives each
stage's parents (stage A is upstream of B when one of B's deps overlaps one of
A's outs, as DVC links them) and runs the stages in that order. The flow for a
stage comes from the stage's own `cmd`, `python -m <module>`: the module is
imported and its flow named after the stage is called. A stage added to
dvc.yaml therefore joins the pipeline with no edit here, and the two cannot
drift (tests/pipeline/test_pipeline_dag.py checks the result against DVC's own
graph).

`dvc repro` and this flow run the same stage flows. DVC skips a stage whose
deps and params are unchanged and records dvc.lock; this flow calls every
stage, and each stage's tasks finish from Prefect's cache when their input
hashes, params and code are unchanged. Use `dvc repro` to update dvc.lock; use
`python -m flows.pipeline` for one Prefect run (one log, one retry policy)
over the whole pipeline. Like the stage flows, it runs from the repo root.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from prefect import Flow, flow, get_run_logger
from prefect.runtime import flow_run

from r1router.dvcfile import DVC_FILE, Stage, load_stages, topological_order, upstream
from r1router.errors import ConfigError
from r1router.tracking import locked_checkout, pipeline_run


def stage_flow(stage: Stage) -> Flow:
    """The flow object named `stage.name` in the module that the stage's cmd runs."""
    module = importlib.import_module(stage.module)
    found = [obj for obj in vars(module).values() if isinstance(obj, Flow) and obj.name == stage.name]
    if len(found) != 1:
        raise ConfigError(
            f"{DVC_FILE}: stage '{stage.name}' runs {stage.module}, which defines {len(found)} flows "
            f"named '{stage.name}' (expected exactly one)"
        )
    return found[0]


def plan(stages: Mapping[str, Stage]) -> list[tuple[str, frozenset[str]]]:
    """`(stage, its parents)` in the order the flow runs them."""
    parents = upstream(stages)
    return [(name, parents[name]) for name in topological_order(stages)]


@flow(name="pipeline")
def pipeline_flow() -> dict[str, Any]:
    """Run every stage flow of ./dvc.yaml in dependency order; return each stage flow's result.

    Like `r1router repro`, it holds the checkout's pipeline lock (the stage flows
    ride on it) and opens one parent MLflow run that every stage run nests under.
    """
    logger = get_run_logger()
    stages = load_stages(".")
    steps = plan(stages)
    flows = {name: stage_flow(stages[name]) for name, _ in steps}  # fail on a bad cmd before any work
    results: dict[str, Any] = {}
    with (
        locked_checkout(".", command="python -m flows.pipeline"),
        pipeline_run({"prefect_flow_run_id": str(flow_run.id), "r1router.runner": "flows.pipeline"}),
    ):
        for name, parents in steps:
            logger.info("stage %s (after %s)", name, ", ".join(sorted(parents)) or "nothing")
            results[name] = flows[name]()
    return results


if __name__ == "__main__":
    pipeline_flow()

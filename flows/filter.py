"""Flow `filter`: keep the trajectories worth imitating → data/training/steps/{train,heldout}.jsonl."""

from __future__ import annotations

from prefect import flow

from flows.stage import publish_metrics, tracked_stage
from r1router.training.filtering import FilterConfig
from tasks.caching import code_version, input_version, run_cached
from tasks.filter import filter_task


@flow(name="filter")
def filter_flow() -> dict:
    with tracked_stage("filter") as (params, tracking):
        settings = {key: value for key, value in params.items() if key in FilterConfig.__dataclass_fields__}
        report = run_cached(
            filter_task,
            [params["out_dir"]],
            trajectories=params["trajectories"],
            out_dir=params["out_dir"],
            settings=settings,
            data=input_version(params["trajectories"]),
            code=code_version("filter"),
        )
        publish_metrics("filter", report, tracking)
    return report


if __name__ == "__main__":
    filter_flow()

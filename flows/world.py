"""Flow `world`: build the offline demo world and record its counts."""

from __future__ import annotations

from prefect import flow

from flows.stage import publish_metrics, tracked_stage
from tasks.caching import code_version, run_cached
from tasks.world import build_world_task


@flow(name="world")
def world_flow() -> dict:
    with tracked_stage("world") as (params, mlflow):
        counts = run_cached(
            build_world_task,
            [params["out_dir"]],
            out_dir=params["out_dir"],
            seed=params["seed"],
            size=params["size"],
            code=code_version("world"),
        )
        publish_metrics("world", counts, mlflow)
    return counts


if __name__ == "__main__":
    world_flow()

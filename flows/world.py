"""Flow `world`: build the world the pipeline reads (generated demo world, or released questions) and count it."""

from __future__ import annotations

from prefect import flow

from flows.stage import publish_metrics, tracked_stage
from tasks.caching import code_version, input_version, run_cached
from tasks.world import build_world_task


def world_inputs(params: dict) -> list[str]:
    """Every file a world is built from (none for the generated one): their content keys the cache."""
    files = [params[key] for key in ("trajectories", "train") if params.get(key)]
    for spec in (params.get("benchmarks") or {}).values():
        files.append(spec["questions"])
        files += [value for value in (spec.get("images") or {}).values() if isinstance(value, str)]
    return files


@flow(name="world")
def world_flow() -> dict:
    with tracked_stage("world") as (params, mlflow):
        settings = {key: value for key, value in params.items() if key != "out_dir"}
        counts = run_cached(
            build_world_task,
            [params["out_dir"]],
            out_dir=params["out_dir"],
            settings=settings,
            data=input_version(*world_inputs(params)),
            code=code_version("world"),
        )
        publish_metrics("world", counts, mlflow)
    return counts


if __name__ == "__main__":
    world_flow()

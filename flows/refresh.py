"""Flow `refresh`: re-run the stages downstream of each corpus source that changed since the last refresh.

Each tick fingerprints every source the profile names (`refresh.sources`),
fetches the changed ones to their in-repo dest, runs `dvc repro --downstream`
from the stages that read them, and only then records the new fingerprints
(see `r1router.refresh`). Unchanged sources mean no fetch and no `dvc repro`.
The checks and fetches retry with backoff (params: `refresh.retries`,
`refresh.retry_delay_seconds`); `dvc repro` does not, since a stage failure
is not transient, and the next tick retries it anyway because nothing was recorded.

Fetch, `dvc repro` and record run under the checkout's pipeline lock (a
concurrent pipeline run is refused, and refuses this) and inside an MLflow run
`refresh` tagged `refresh.changed`, `refresh.source.<name>` (the fetched
fingerprint) and `refresh.stages`; the pipeline run of `dvc repro` and its stage
runs nest under it, and it nests under `R1ROUTER_PARENT_RUN_ID` when that is set.

No task here is cached: a fingerprint must describe the source now.
`r1router schedule serve --cron "..."` runs this flow on a schedule;
`r1router schedule run-once` (or `python -m flows.refresh`) runs it now.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from r1router.lineage import tag_key
from r1router.refresh import (
    RefreshConfig,
    Source,
    fetch,
    fingerprint,
    is_stale,
    load_config,
    read_state,
    record,
    repro_downstream,
    write_state,
)
from r1router.tracking import locked_checkout, tracked_run

_UNCACHED = {"cache_policy": NO_CACHE, "persist_result": False}


@task(name="fingerprint-source", retries=3, retry_delay_seconds=[10, 60, 300], timeout_seconds=600, **_UNCACHED)
def fingerprint_task(source: Source, root: str, http_timeout: float) -> str:
    return fingerprint(source, Path(root), http_timeout)


@task(name="fetch-source", retries=3, retry_delay_seconds=[10, 60, 300], timeout_seconds=6 * 3600, **_UNCACHED)
def fetch_task(source: Source, root: str, http_timeout: float) -> str:
    return fetch(source, Path(root), http_timeout)


@task(name="dvc-repro-downstream", timeout_seconds=48 * 3600, **_UNCACHED)
def repro_task(root: str, stages: list[str]) -> list[str]:
    """Stage flows started by `dvc repro` report to this run's Prefect API (no second temporary server)."""
    context = FlowRunContext.get()
    if "PREFECT_API_URL" in os.environ or context is None:
        return repro_downstream(Path(root), stages)
    os.environ["PREFECT_API_URL"] = str(context.client.api_url)  # inherited by `dvc repro` and its stages
    try:
        return repro_downstream(Path(root), stages)
    finally:
        os.environ.pop("PREFECT_API_URL", None)


def _retrying(task_fn, config: RefreshConfig):
    return task_fn.with_options(retries=config.retries, retry_delay_seconds=list(config.retry_delay_seconds))


@flow(name="refresh", persist_result=False)
def refresh_flow(root: str = ".") -> dict[str, list[str]]:
    """Return `{"changed": [source names], "stages": [stages dvc repro ran]}`."""
    logger = get_run_logger()
    config = load_config(root)
    root = str(config.root)
    state = read_state(config.state)
    current = {
        source.name: _retrying(fingerprint_task, config)(source, root, config.http_timeout_seconds)
        for source in config.sources
    }
    changed = [source for source in config.sources if is_stale(source, current[source.name], state, config.root)]
    if not changed:
        logger.info("no corpus source changed (%d checked)", len(config.sources))
        return {"changed": [], "stages": []}
    logger.info("changed sources: %s", ", ".join(f"{s.name} ({s.uri})" for s in changed))
    names = ",".join(source.name for source in changed)
    with (
        locked_checkout(config.root, command=f"flows.refresh ({names})"),
        tracked_run("refresh", {"r1router.kind": "refresh", "refresh.changed": names}, config.root) as mlflow,
    ):
        fetched = {
            source.name: _retrying(fetch_task, config)(source, root, config.http_timeout_seconds) for source in changed
        }
        mlflow.set_tags({tag_key("refresh.source.", name): value for name, value in fetched.items()})
        targets = list(dict.fromkeys(stage for source in changed for stage in source.stages))
        ran = repro_task(root, targets)
        mlflow.set_tag("refresh.stages", ",".join(ran))
        logger.info("stages re-run: %s", ", ".join(ran) or "none (DVC found the fetched content unchanged)")
        records = {s.name: record(s, fetched.get(s.name, current[s.name])) for s in config.sources}
        write_state(config.state, records)
    return {"changed": [source.name for source in changed], "stages": ran}


if __name__ == "__main__":
    refresh_flow()

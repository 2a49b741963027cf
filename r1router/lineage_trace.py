"""`r1router lineage`: from a benchmark number back to the exact inputs, params and code behind it.

A stage run carries `dvc.dep.<path>` (what it read) and `dvc.out.<path>` (what
it wrote), both in DVC's hashes (`r1router.lineage`). The run that produced a
dep is the finished run whose `dvc.out.<path>` equals that dep's hash, so the
chain is followed by equality of content hashes, never by timestamps or names.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from r1router.dvcfile import Stage, is_dvc_project, load_stages, producer_of
from r1router.errors import R1RouterError
from r1router.lineage import DEP_PREFIX, OUT_PREFIX, tag_key
from r1router.tracking import EXPERIMENT, tracking_uri

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
PARENT_TAG = "mlflow.parentRunId"


class LineageError(R1RouterError):
    """Nothing in the store matches what was asked for."""


@dataclass
class Dep:
    path: str
    hash: str
    producer: str | None  # the dvc.yaml stage writing this path; None for a source (code, raw input)
    upstream_run: str | None  # the finished run whose dvc.out.<path> equals `hash`


@dataclass
class StageRun:
    stage: str
    run_id: str
    status: str
    started: str
    git_commit: str
    git_dirty: str
    params_hash: str
    params: dict[str, str]
    prefect_flow_run_id: str
    pipeline_run: str | None
    under_dvc_repro: str
    lock_present: str
    deps_changed: list[str]
    deps: list[Dep] = field(default_factory=list)


@dataclass
class Lineage:
    query: str
    metric: dict[str, Any] | None
    stages: list[StageRun]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _client(root: Path) -> tuple[Any, str]:
    import mlflow

    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        raise LineageError(f"{uri}: no '{EXPERIMENT}' experiment (no stage has run against this store)")
    return mlflow.MlflowClient(), experiment.experiment_id


def _stage_run_of(client: Any, run: Any) -> Any:
    """The stage run a run belongs to: itself, or the nearest ancestor tagged with a stage (per-method runs)."""
    start = run.info.run_id
    while "stage" not in run.data.tags:
        if run.data.tags.get("r1router.kind") == "pipeline":
            raise LineageError(f"run {start} is a pipeline run; give one of its stage runs or a metric name")
        parent = run.data.tags.get(PARENT_TAG)
        if parent is None:
            raise LineageError(f"run {start} is not a pipeline stage run (no 'stage' tag on it or its parents)")
        run = client.get_run(parent)
    return run


def _by_run_id(client: Any, run_id: str, root: Path) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        raise LineageError(f"{tracking_uri(root)}: no run '{run_id}'") from None


def _latest_with_metric(client: Any, experiment: str, name: str) -> list[Any]:
    return client.search_runs(
        [experiment], f"metrics.`{name}` > -1e308", order_by=["attributes.start_time DESC"], max_results=1
    )


def _by_metric(client: Any, experiment: str, name: str, root: Path) -> tuple[Any, dict[str, Any]]:
    """The latest run that logged metric `name` (a per-method run resolves to its stage run later).

    Evaluation metrics are named `<benchmark>/<method>/<field>` (MLflow's UI groups by `/`); the dotted
    form of `metrics/eval.json`'s keys, which earlier runs logged, finds them too.
    """
    if "`" in name:
        raise LineageError(f"metric name {name!r} contains a backtick")
    runs = _latest_with_metric(client, experiment, name)
    if not runs and "." in name:
        runs = _latest_with_metric(client, experiment, name.replace(".", "/"))
        name = name.replace(".", "/") if runs else name
    if not runs:
        known = {key for run in client.search_runs([experiment], max_results=200) for key in run.data.metrics}
        close = difflib.get_close_matches(name, sorted(known), n=5, cutoff=0.5)
        hint = f"; did you mean: {', '.join(close)}" if close else ""
        raise LineageError(f"{tracking_uri(root)}: no run logged metric '{name}'{hint}")
    return runs[0], {"name": name, "value": runs[0].data.metrics[name], "run_id": runs[0].info.run_id}


def _json_value(path: Path, key: str) -> Any:
    """`a.b.c` inside a metrics JSON file; keys may themselves contain dots, so the longest match wins."""
    node: Any = json.loads(path.read_text(encoding="utf-8"))
    rest = key
    while rest:
        if not isinstance(node, dict):
            raise LineageError(f"{path}: '{key}' goes below a value ({node!r})")
        match = next((k for k in sorted(node, key=len, reverse=True) if rest == k or rest.startswith(k + ".")), None)
        if match is None:
            raise LineageError(f"{path}: no key '{key}' (at '{rest}'; keys there: {', '.join(sorted(node))})")
        node, rest = node[match], rest[len(match) + 1 :]
    return node


def _by_metrics_file(client: Any, experiment: str, query: str, root: Path) -> tuple[Any, dict[str, Any]]:
    """`metrics/eval.json:KEY`: the run that wrote the file as it is now (its DVC md5), and the value there."""
    rel, key = query.split(":", 1)
    path = root / rel
    if not path.is_file():
        raise LineageError(f"{path}: metrics file not found")
    value = _json_value(path, key)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()  # DVC 3's md5 of a file is the md5 of its bytes
    runs = _runs_with_tag(client, experiment, tag_key(OUT_PREFIX, rel), md5)
    if not runs:
        raise LineageError(
            f"{path}: no finished run in {tracking_uri(root)} wrote this file as it is now (md5 {md5}); "
            "was it produced outside a tracked stage, or edited since?"
        )
    return runs[0], {"name": key, "value": value, "file": rel, "md5": md5}


def _runs_with_tag(client: Any, experiment: str, key: str, value: str) -> list[Any]:
    """Finished runs with tag `key` = `value`, newest first."""
    return client.search_runs(
        [experiment],
        f"tags.`{key}` = '{value}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )


def _upstream(client: Any, experiment: str, dep: str, value: str, before_ms: int) -> str | None:
    """The run that wrote `dep` with this hash: the newest one started before the consumer, else the newest."""
    runs = _runs_with_tag(client, experiment, tag_key(OUT_PREFIX, dep), value)
    candidates = [run for run in runs if run.info.start_time <= before_ms] or runs
    return candidates[0].info.run_id if candidates else None


def _node(client: Any, experiment: str, run: Any, pipeline: Mapping[str, Stage]) -> StageRun:
    tags = run.data.tags
    node = StageRun(
        stage=tags["stage"],
        run_id=run.info.run_id,
        status=run.info.status,
        started=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).isoformat(timespec="seconds"),
        git_commit=tags.get("git_commit", "unknown"),
        git_dirty=tags.get("git_dirty", "unknown"),
        params_hash=tags.get("params_hash", ""),
        params=dict(sorted(run.data.params.items())),
        prefect_flow_run_id=tags.get("prefect_flow_run_id", ""),
        pipeline_run=tags.get(PARENT_TAG),
        under_dvc_repro=tags.get("dvc.repro", "unknown"),
        lock_present=tags.get("dvc.lock_present", "unknown"),
        deps_changed=[path for path in tags.get("dvc.deps_changed", "").split(",") if path],
    )
    for key in sorted(k for k in tags if k.startswith(DEP_PREFIX)):
        path, value = key[len(DEP_PREFIX) :], tags[key]
        producer = producer_of(pipeline, path)
        upstream = _upstream(client, experiment, path, value, run.info.start_time) if producer else None
        node.deps.append(Dep(path, value, producer, upstream))
    return node


def trace(query: str, root: Path = Path(".")) -> Lineage:
    """Resolve `query` (run id, metric name, or `file.json:KEY`) to a stage run and walk its deps upstream."""
    client, experiment = _client(root)
    if _RUN_ID.match(query):
        run, metric = _by_run_id(client, query, root), None
    elif ":" in query and query.split(":", 1)[0].endswith(".json"):
        run, metric = _by_metrics_file(client, experiment, query, root)
    else:
        run, metric = _by_metric(client, experiment, query, root)
    start = _stage_run_of(client, run)
    pipeline = load_stages(root) if is_dvc_project(root) else {}
    stages: list[StageRun] = []
    queue, seen = deque([start]), {start.info.run_id}
    start_ms: dict[str, int] = {}
    while queue:
        run = queue.popleft()
        node = _node(client, experiment, run, pipeline)
        start_ms[node.run_id] = run.info.start_time
        stages.append(node)
        for dep in node.deps:
            if dep.upstream_run and dep.upstream_run not in seen:
                seen.add(dep.upstream_run)
                queue.append(client.get_run(dep.upstream_run))
    # An upstream run started before the runs that read its outs: newest first is downstream → sources.
    stages.sort(key=lambda node: start_ms[node.run_id], reverse=True)
    return Lineage(query, metric, stages)


def format_lineage(lineage: Lineage) -> str:
    """The chain as text: one block per stage run, newest first, each dep pointing at its producing run."""
    lines = []
    if lineage.metric:
        metric = lineage.metric
        where = f"{metric['file']} (md5 {metric['md5']})" if "file" in metric else f"run {metric['run_id']}"
        lines.append(f"{metric['name']} = {metric['value']}  from {where}")
    for node in lineage.stages:
        changed = f"  (changed since last dvc.lock: {', '.join(node.deps_changed)})" if node.deps_changed else ""
        if node.lock_present == "false":
            changed = "  (dvc.lock had no entry for this stage yet)"
        lines += [
            "",
            f"{node.stage}  run {node.run_id}  {node.status}  started {node.started}",
            f"  code      git {node.git_commit} (dirty: {node.git_dirty})",
            f"  params    hash {node.params_hash}",
            *(f"              {key} = {value}" for key, value in node.params.items()),
            f"  pipeline  {node.pipeline_run or '-'} (under dvc repro: {node.under_dvc_repro})",
            f"  prefect   flow run {node.prefect_flow_run_id or '-'}",
            f"  deps{changed}",
        ]
        width = max((len(dep.path) for dep in node.deps), default=0)
        for dep in node.deps:
            if dep.producer is None:
                source = "source"
            elif dep.upstream_run:
                source = f"<- {dep.producer} run {dep.upstream_run}"
            else:
                source = f"<- {dep.producer}: no finished run recorded this hash (DVC run-cache, or untracked)"
            lines.append(f"    {dep.path:<{width}}  {dep.hash}  {source}")
    return "\n".join(lines).lstrip("\n")

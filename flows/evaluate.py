"""Flow `evaluate`: every method on every demo benchmark → metrics/eval.json, reports/table1.md, plots.

One MLflow run for the evaluation with a child run per method, so a reviewer
can compare methods side by side and open each one's predictions. Every
method runs with the profile's router settings (`profiles.<profile>.router`),
on the policy its `evaluate.methods` entry names: a model directory or a
backend spec (`r1router.router.backends`), e.g. a model served by vLLM.

Metric names put the benchmark first and use `/`, which MLflow's UI groups by:
a method run logs `<benchmark>/f1_recall` and `avg/f1_recall` (Table 1's row),
the evaluation run `<benchmark>/<method>/f1_recall` and `avg/<method>/f1_recall`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import mlflow
from prefect import flow

from flows.stage import numeric_metrics, publish_summary, tracked_stage
from r1router.benchmarks.registry import split_files
from r1router.config import metrics_file
from r1router.evaluation.intervals import evaluation_stats
from r1router.evaluation.method_metrics import PER_QUESTION
from r1router.evaluation.report import dvc_plot_rows, f1_averages, report_html, write_report
from r1router.io import write_json
from r1router.router.profile import parse_router_config, router_params
from r1router.router.prompts import PROMPT_VERSION
from r1router.tracking import flatten, log_data_inputs
from tasks.caching import code_version, input_version
from tasks.evaluate import evaluate_method_task

AVERAGE = "avg"  # the metric-name prefix of Table 1's Avg. column
HTML_REPORT = "table1.html"
# Each method's task run is named after its method in Prefect's UI, not `evaluate-method-<3 hex>`.
evaluate_method = evaluate_method_task.with_options(task_run_name="evaluate[{method}]")


def unshared(value: Any) -> Any:
    """An equal copy of a JSON-like value that shares no object with it.

    Prefect links a task's result, and the objects one level inside it, to that
    task run by object identity, and draws any later task given one of those
    objects as its dependant. A method's result is keyed by the very benchmark
    name strings that key `question_files`, so passing the same dict to the next
    method drew a dependency chain between independent methods. An equal copy
    keeps the cache key (it hashes values) and drops the false edge.
    """
    return json.loads(json.dumps(value))


def method_metrics(method: str, per_benchmark: Mapping[str, Any]) -> dict[str, float]:
    """A method run's metrics: `<benchmark>/<field>` for each benchmark, and `avg/f1_recall` (Table 1's Avg.)."""
    flat = numeric_metrics(per_benchmark, sep="/")
    averages = f1_averages({benchmark: {method: metrics} for benchmark, metrics in per_benchmark.items()})
    if method in averages:
        flat[f"{AVERAGE}/f1_recall"] = averages[method][0]
    return flat


def evaluation_metrics(results: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The evaluation run's metrics: `<benchmark>/<method>/<field>` and `avg/<method>/f1_recall`."""
    averages = {f"{AVERAGE}/{method}/f1_recall": value for method, (value, _) in f1_averages(results).items()}
    return {**numeric_metrics(results, sep="/"), **averages}


def complete_averages(results: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Table 1's Avg. of each method scored on every benchmark (a partial one has no comparable interval)."""
    return {method: value for method, (value, partial) in f1_averages(results).items() if not partial}


def stats_metrics(stats: Mapping[str, Any]) -> dict[str, float]:
    """eval_stats.json as metrics: `avg/<method>/f1_recall_ci95_{low,high}`, `compare/<a>-vs-<b>/{diff,p_value,…}`."""
    flat = {}
    for method, entry in stats["avg"].items():
        low, high = entry["f1_recall_ci95"]
        flat |= {f"{AVERAGE}/{method}/f1_recall_ci95_low": low, f"{AVERAGE}/{method}/f1_recall_ci95_high": high}
    for comparison in stats["comparisons"]:
        name = f"compare/{comparison['a']}-vs-{comparison['b']}"
        low, high = comparison["ci95"]
        flat |= {
            f"{name}/diff": comparison["diff"],
            f"{name}/p_value": comparison["p_value"],
            f"{name}/ci95_low": low,
            f"{name}/ci95_high": high,
        }
    return flat


def log_predictions(predictions_dir: Path, method: str, benchmarks: list[str]) -> None:
    """Log only this method's prediction files, as `predictions/<benchmark>/<method>.jsonl`, to the active run."""
    for benchmark in benchmarks:
        path = predictions_dir / benchmark / f"{method}.jsonl"
        if path.is_file():
            mlflow.log_artifact(str(path), f"predictions/{benchmark}")


def method_run(
    method: str,
    tags: Mapping[str, str],
    predictions_dir: Path,
    evaluate: Callable[[], dict[str, Any]],
    dep_tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`evaluate()` one method inside its own child run; log its metrics (`method_metrics`) and its predictions.

    The run opens before the work, so its duration is the method's evaluation. `dep_tags`: the evaluate
    run's `dvc.dep.*` tags, logged as the method run's datasets too, so each Table 1 row shows what it read.
    """
    with mlflow.start_run(run_name=method, nested=True, tags=dict(tags)):
        log_data_inputs(mlflow, dep_tags or {})
        per_benchmark = evaluate()
        mlflow.log_metrics(method_metrics(method, per_benchmark))
        log_predictions(predictions_dir, method, list(per_benchmark))
    return per_benchmark


def log_report(written: list[Path], tracking: Any) -> None:
    """Log the report, its figures under `plots/`, and the report as self-contained HTML (MLflow renders it)."""
    report, *figures = written
    tracking.log_artifact(str(report))
    for figure in figures:
        tracking.log_artifact(str(figure), "plots")
    tracking.log_text(report_html(report.read_text(encoding="utf-8"), report.parent), HTML_REPORT)


@flow(name="evaluate")
def evaluate_flow() -> dict:
    with tracked_stage("evaluate") as (params, tracking):
        world = Path(params["world_dir"])
        split = params["split"]
        question_files = {name: str(path) for name, path in split_files(world, split).items()}
        kbs = params["kbs"]
        data = input_version(*question_files.values(), *(Path(params["kb_dir"]) / kb for kb in kbs))
        code = code_version("evaluate")
        tracking.set_tag("prompt_version", PROMPT_VERSION)
        router = router_params()
        tracking.log_params(flatten(router, "router."))
        config = parse_router_config(router)
        # Every spec is checked before the first method runs: a typo fails now, not after an hour of evaluation.
        specs = {
            method: config.policy_spec(value, f"evaluate.methods.{method}")
            for method, value in params["methods"].items()
        }
        predictions_dir = Path(params["predictions_dir"])
        stage_tags = tracking.get_run(tracking.active_run().info.run_id).data.tags  # with the dvc.dep.* tags
        results: dict[str, dict] = {}
        scores: dict[str, dict[str, list[float]]] = {}  # method -> benchmark -> per-question F1-Recall
        for method, spec in specs.items():
            model = spec.local_model  # a served model's content is not ours to hash; its spec keys the cache
            task_args = {
                "method": method,
                "policy": params["methods"][method],
                "question_files": question_files,
                "image_root": str(world / "images"),
                "kb_dir": params["kb_dir"],
                "kbs": kbs,
                "router": router,
                "limit": params.get("max_questions"),
                "missing_images": params.get("missing_images", "fail"),
                "predictions_dir": str(predictions_dir),
                "data": data + (input_version(model) if model is not None else ""),
                "code": code,
            }
            tags = {"method": method, "policy": spec.describe(), "backend": spec.backend}
            evaluate = partial(evaluate_method, **unshared(task_args))
            per_benchmark = method_run(method, tags, predictions_dir, evaluate, stage_tags)
            for benchmark, metrics in per_benchmark.items():
                scores.setdefault(method, {})[benchmark] = metrics.pop(PER_QUESTION)
                results.setdefault(benchmark, {})[method] = metrics
        stats = evaluation_stats(scores, complete_averages(results))
        metrics_path = metrics_file("evaluate")
        write_json(metrics_path, results)
        write_json(metrics_file("evaluate_stats"), stats)
        write_json(metrics_file("evaluate_plot"), dvc_plot_rows(results))
        run = tracking.active_run()
        provenance = {
            "params_hash": run.data.tags.get("params_hash", ""),
            "git_commit": run.data.tags.get("git_commit", ""),
            "prompt_version": PROMPT_VERSION,
            "data_version": data,
            "mlflow_run_id": run.info.run_id,
        }
        tracking.set_tag("data_version", data)
        written = write_report(results, Path(params["report"]), Path(params["plots_dir"]), provenance, stats=stats)
        tracking.log_metrics({**evaluation_metrics(results), **stats_metrics(stats)})
        tracking.log_artifact(str(metrics_path))
        tracking.log_artifact(str(metrics_file("evaluate_stats")))
        log_report(written, tracking)
        publish_summary("evaluate", written[0].read_text(encoding="utf-8"), tracking)
    return results


if __name__ == "__main__":
    evaluate_flow()

"""Flow `evaluate`: every method on every demo benchmark → metrics/eval.json, reports/table1.md, plots.

One MLflow run for the evaluation with a child run per method, so a reviewer
can compare methods side by side and open each one's predictions.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from prefect import flow

from flows.stage import numeric_metrics, tracked_stage
from r1router.benchmarks.registry import DEMO_BENCHMARKS
from r1router.evaluation.report import dvc_plot_rows, write_report
from r1router.io import write_json
from r1router.router.prompts import PROMPT_VERSION
from tasks.caching import code_version, input_version
from tasks.evaluate import evaluate_method_task

METRICS = "metrics/eval.json"
PLOT_DATA = "metrics/eval_plot.json"


@flow(name="evaluate")
def evaluate_flow() -> dict:
    with tracked_stage("evaluate") as (params, tracking):
        world = Path(params["world_dir"])
        question_files = {
            name: str(world / "questions" / name / f"{params['split']}.jsonl") for name in DEMO_BENCHMARKS
        }
        kbs = params["kbs"]
        data = input_version(*question_files.values(), *(Path(params["kb_dir"]) / kb for kb in kbs))
        code = code_version("evaluate")
        tracking.set_tag("prompt_version", PROMPT_VERSION)
        results: dict[str, dict] = {}
        for method, policy_dir in params["methods"].items():
            per_benchmark = evaluate_method_task(
                method=method,
                policy_dir=policy_dir,
                question_files=question_files,
                image_root=str(world / "images"),
                kb_dir=params["kb_dir"],
                kbs=kbs,
                loop=params["loop"],
                limit=params.get("max_questions"),
                predictions_dir=params["predictions_dir"],
                device=params["device"],
                precision=params.get("precision", "auto"),
                data=data + input_version(policy_dir),
                code=code,
            )
            with mlflow.start_run(run_name=method, nested=True, tags={"method": method, "policy": policy_dir}):
                mlflow.log_metrics(numeric_metrics(per_benchmark))
                mlflow.log_artifacts(params["predictions_dir"], "predictions")
            for benchmark, metrics in per_benchmark.items():
                results.setdefault(benchmark, {})[method] = metrics
        write_json(METRICS, results)
        write_json(PLOT_DATA, dvc_plot_rows(results))
        provenance = {
            "params_hash": tracking.active_run().data.tags.get("params_hash", ""),
            "git_commit": tracking.active_run().data.tags.get("git_commit", ""),
            "prompt_version": PROMPT_VERSION,
            "data_version": data,
        }
        written = write_report(results, Path(params["report"]), Path(params["plots_dir"]), provenance)
        tracking.log_metrics(numeric_metrics(results))
        for path in [Path(METRICS), *written]:
            tracking.log_artifact(str(path))
    return results


if __name__ == "__main__":
    evaluate_flow()

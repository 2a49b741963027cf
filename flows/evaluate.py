"""Flow `evaluate`: every method on every demo benchmark → metrics/eval.json, reports/table1.md, plots.

One MLflow run for the evaluation with a child run per method, so a reviewer
can compare methods side by side and open each one's predictions. Every
method runs with the profile's router settings (`profiles.<profile>.router`),
on the policy its `evaluate.methods` entry names: a model directory or a
backend spec (`r1router.router.backends`), e.g. a model served by vLLM.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from prefect import flow

from flows.stage import numeric_metrics, tracked_stage
from r1router.benchmarks.registry import world_benchmarks
from r1router.config import metrics_file
from r1router.evaluation.report import dvc_plot_rows, write_report
from r1router.io import write_json
from r1router.router.profile import parse_router_config, router_params
from r1router.router.prompts import PROMPT_VERSION
from r1router.tracking import flatten
from tasks.caching import code_version, input_version
from tasks.evaluate import evaluate_method_task


@flow(name="evaluate")
def evaluate_flow() -> dict:
    with tracked_stage("evaluate") as (params, tracking):
        world = Path(params["world_dir"])
        split = params["split"]
        benchmarks = world_benchmarks(world, split)
        question_files = {name: str(world / "questions" / name / f"{split}.jsonl") for name in benchmarks}
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
        results: dict[str, dict] = {}
        for method, spec in specs.items():
            model = spec.local_model  # a served model's content is not ours to hash; its spec keys the cache
            per_benchmark = evaluate_method_task(
                method=method,
                policy=params["methods"][method],
                question_files=question_files,
                image_root=str(world / "images"),
                kb_dir=params["kb_dir"],
                kbs=kbs,
                router=router,
                limit=params.get("max_questions"),
                missing_images=params.get("missing_images", "fail"),
                predictions_dir=params["predictions_dir"],
                data=data + (input_version(model) if model is not None else ""),
                code=code,
            )
            tags = {"method": method, "policy": spec.describe(), "backend": spec.backend}
            with mlflow.start_run(run_name=method, nested=True, tags=tags):
                mlflow.log_metrics(numeric_metrics(per_benchmark))
                mlflow.log_artifacts(params["predictions_dir"], "predictions")
            for benchmark, metrics in per_benchmark.items():
                results.setdefault(benchmark, {})[method] = metrics
        metrics_path = metrics_file("evaluate")
        write_json(metrics_path, results)
        write_json(metrics_file("evaluate_plot"), dvc_plot_rows(results))
        provenance = {
            "params_hash": tracking.active_run().data.tags.get("params_hash", ""),
            "git_commit": tracking.active_run().data.tags.get("git_commit", ""),
            "prompt_version": PROMPT_VERSION,
            "data_version": data,
        }
        written = write_report(results, Path(params["report"]), Path(params["plots_dir"]), provenance)
        tracking.log_metrics(numeric_metrics(results))
        for path in [metrics_path, *written]:
            tracking.log_artifact(str(path))
    return results


if __name__ == "__main__":
    evaluate_flow()

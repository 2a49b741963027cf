"""Flow `synthesize`: a teacher runs the step-wise loop over the train split → data/training/trajectories.jsonl."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.stage import publish_metrics, tracked_stage
from r1router.benchmarks.registry import world_benchmarks
from r1router.router.prompts import PROMPT_VERSION
from tasks.caching import code_version, input_version
from tasks.synthesize import run_synthesis


@flow(name="synthesize")
def synthesize_flow() -> dict:
    with tracked_stage("synthesize") as (params, tracking):
        world, kb_dir, teacher = Path(params["world_dir"]), Path(params["kb_dir"]), params["teacher"]
        benchmarks = params.get("benchmarks") or list(world_benchmarks(world, params["split"]))
        questions = [world / "questions" / name / f"{params['split']}.jsonl" for name in benchmarks]
        model = [teacher["model_dir"]] if teacher.get("model_dir") else []
        data = input_version(*questions, world / "images", *(kb_dir / kb for kb in params["kbs"]), *model)
        tracking.set_tags({"prompt_version": PROMPT_VERSION, "teacher": teacher["kind"]})
        stats = run_synthesis(
            Path(params["out"]),
            remote=teacher["kind"] == "openai",
            retries=params["task_retries"],
            world_dir=str(world),
            kb_dir=str(kb_dir),
            kbs=params["kbs"],
            split=params["split"],
            benchmarks=benchmarks,
            max_questions=params.get("max_questions"),
            teacher=teacher,
            loop=params["loop"],
            chunk_size=params["chunk_size"],
            cache_dir=params["cache_dir"],
            device=params["device"],
            precision=params.get("precision", "auto"),
            retrieval_service=params.get("retrieval_service"),  # optional: a `r1router kb serve` URL
            data=data,
            code=code_version("synthesize"),
        )
        publish_metrics("synthesize", stats, tracking)
    return stats


if __name__ == "__main__":
    synthesize_flow()

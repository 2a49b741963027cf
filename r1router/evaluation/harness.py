"""Run methods over benchmarks and score them: the source of every number in the evaluation table.

All question files are loaded (and so validated: malformed lines, missing
images, unknown field types) before the first token is generated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from r1router.benchmarks.loaders import load_benchmark
from r1router.benchmarks.schema import Question
from r1router.evaluation.method_metrics import method_metrics
from r1router.io import write_jsonl
from r1router.router.methods import Method, routes


def load_questions(
    files: dict[str, Path], image_root: Path | None, limit: int | None = None, missing_images: str = "fail"
) -> dict[str, list[Question]]:
    """Every benchmark's questions, validated up front; `limit` keeps the first N of each (file order)."""
    loaded = {name: load_benchmark(path, name, image_root, missing_images) for name, path in sorted(files.items())}
    return {name: questions[:limit] if limit else questions for name, questions in loaded.items()}


def evaluate_methods(
    methods: dict[str, Method],
    benchmarks: dict[str, list[Question]],
    image_root: Path | None,
    predictions_dir: Path,
    max_steps: int,
    on_result: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Return `{benchmark: {method: metrics}}` and write one predictions file per pair.

    A method runs once over the questions of all benchmarks together, so its
    batches are as large as the whole evaluation set allows; the trajectories
    are split by benchmark afterwards. `questions_per_second` is therefore the
    method's throughput over the whole evaluation set, the same in every benchmark.
    """
    results: dict[str, dict[str, dict[str, Any]]] = {}
    everything = [question for questions in benchmarks.values() for question in questions]
    for method_name, method in methods.items():
        ran_all = method.run(everything, image_root)
        wall = max((t.seconds for t in ran_all), default=0.0)
        trajectories = iter(ran_all)
        for benchmark, questions in benchmarks.items():
            ran = [next(trajectories) for _ in questions]
            write_jsonl(predictions_dir / benchmark / f"{method_name}.jsonl", (t.to_dict() for t in ran))
            metrics = method_metrics(questions, ran, routes=routes(method_name), max_steps=max_steps)
            metrics["questions_per_second"] = round(len(everything) / wall, 4) if wall > 0 else None
            # evaluated without the image they ask about (missing, or not released): a reader must see how many
            metrics["image_missing"] = sum(bool(q.extra.get("image_missing")) for q in questions)
            results.setdefault(benchmark, {})[method_name] = metrics
            if on_result is not None:
                on_result(benchmark, method_name, metrics)
    return results

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
    files: dict[str, Path], image_root: Path | None, limit: int | None = None
) -> dict[str, list[Question]]:
    """Every benchmark's questions, validated up front; `limit` keeps the first N of each (file order)."""
    loaded = {name: load_benchmark(path, name, image_root) for name, path in sorted(files.items())}
    return {name: questions[:limit] if limit else questions for name, questions in loaded.items()}


def evaluate_methods(
    methods: dict[str, Method],
    benchmarks: dict[str, list[Question]],
    image_root: Path | None,
    predictions_dir: Path,
    max_steps: int,
    on_result: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Return `{benchmark: {method: metrics}}` and write one predictions file per pair."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for method_name, method in methods.items():
        for benchmark, questions in benchmarks.items():
            trajectories = method.run(questions, image_root)
            write_jsonl(predictions_dir / benchmark / f"{method_name}.jsonl", (t.to_dict() for t in trajectories))
            metrics = method_metrics(questions, trajectories, routes=routes(method_name), max_steps=max_steps)
            results.setdefault(benchmark, {})[method_name] = metrics
            if on_result is not None:
                on_result(benchmark, method_name, metrics)
    return results

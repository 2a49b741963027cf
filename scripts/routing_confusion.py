"""Routing confusion matrices: gold KB (or stop) × the KB a router chose, per step, from the evaluation's predictions.

    python scripts/routing_confusion.py [--methods sft,step-grpo]

Each question's gold plan gives the KB of every step the loop can take and the
stop decision (`method_metrics.gold_route`); each prediction's steps give the
router's choice at the same position (a step it never reached counts as
"not reached"). Prints one Markdown table per method, over all benchmarks and
per benchmark; the last line is a JSON object with the counts.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from power_analysis import evaluated_questions

from r1router.config import stage_params
from r1router.evaluation.method_metrics import gold_route
from r1router.io import read_jsonl
from r1router.router.profile import router_config

KBS = ("text", "table", "image", "none")
NOT_REACHED = "not reached"


def confusion(predictions: Path, questions: dict, method: str, max_steps: int) -> dict[str, Counter[tuple[str, str]]]:
    """benchmark -> Counter of (gold, chosen) over every step position of the gold route."""
    out: dict[str, Counter[tuple[str, str]]] = {}
    for benchmark, asked in questions.items():
        routes = {
            row["qid"]: [step.get("kb") or "none" for step in row["steps"]]
            for row in read_jsonl(predictions / benchmark / f"{method}.jsonl")
        }
        counts: Counter[tuple[str, str]] = Counter()
        for question in asked:
            chosen = routes[question.qid]
            for position, gold in enumerate(gold_route(question, max_steps)):
                counts[(gold, chosen[position] if position < len(chosen) else NOT_REACHED)] += 1
        out[benchmark] = counts
    return out


def table(counts: Counter[tuple[str, str]]) -> str:
    columns = [*KBS, NOT_REACHED]
    lines = ["| gold \\ chosen | " + " | ".join(columns) + " |", "| :--- |" + " ---: |" * len(columns)]
    lines += [f"| {gold} | " + " | ".join(str(counts[(gold, c)]) for c in columns) + " |" for gold in KBS]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="sft,step-grpo")
    args = parser.parse_args()
    params = stage_params("evaluate")
    questions = evaluated_questions(params)
    max_steps = router_config().loop.max_steps
    result = {}
    for method in args.methods.split(","):
        per_benchmark = confusion(Path(params["predictions_dir"]), questions, method, max_steps)
        total = sum(per_benchmark.values(), Counter())
        print(f"## {method}: all benchmarks\n\n{table(total)}\n")
        for benchmark, counts in per_benchmark.items():
            print(f"### {method}: {benchmark}\n\n{table(counts)}\n")
        result[method] = {f"{gold}->{chosen}": n for (gold, chosen), n in sorted(total.items())}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

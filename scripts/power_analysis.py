"""How many test questions the demo needs to tell two methods apart, from its own predictions.

    python scripts/power_analysis.py [--delta 5] [--power 0.8] [--alpha 0.05] [--evaluate-minutes 11.5]

For each pair a reader of Table 1 compares (`intervals.comparison_pairs`), the
per-question F1-Recall differences of the committed predictions give their
standard deviation σ_d; a paired test of the Avg. (equal questions per
benchmark) detects a difference `delta` with the given power when the total
number of questions is n = ((z_{1-α/2} + z_{power}) σ_d / delta)² (normal
approximation). With the evaluate stage's measured minutes for the questions it
scored, the script projects the stage's time at that n. The last line printed
is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

from r1router.benchmarks.registry import split_files
from r1router.config import stage_params
from r1router.evaluation.f1_recall import f1_recall
from r1router.evaluation.harness import load_questions
from r1router.evaluation.intervals import comparison_pairs
from r1router.evaluation.method_metrics import gold_args  # the paper's range rule, as the stage scores it
from r1router.evaluation.report import f1_averages
from r1router.io import read_jsonl


def evaluated_questions(params: dict) -> dict:
    """benchmark -> the questions the evaluate stage scored (its split, `max_questions`, image policy)."""
    world = Path(params["world_dir"])
    return load_questions(
        split_files(world, params["split"]),
        world / "images",
        params.get("max_questions"),
        params.get("missing_images", "fail"),
    )


def per_question(predictions: Path, questions: dict, method: str) -> dict[str, list[float]]:
    """benchmark -> per-question F1-Recall (percent) of `method`, in question order."""
    scores = {}
    for benchmark, asked in questions.items():
        answers = {row["qid"]: row["llm_answer"] for row in read_jsonl(predictions / benchmark / f"{method}.jsonl")}
        scores[benchmark] = [100 * f1_recall(answers[q.qid], *gold_args(q)) for q in asked]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delta", type=float, default=5.0, help="difference in Avg. F1-Recall to detect (points)")
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--evaluate-minutes", type=float, default=None, help="the evaluate stage's measured time")
    args = parser.parse_args()

    params = stage_params("evaluate")
    questions = evaluated_questions(params)
    metrics = json.loads(Path("metrics/eval.json").read_text())
    averages = {method: value for method, (value, partial) in f1_averages(metrics).items() if not partial}
    predictions = Path(params["predictions_dir"])
    z = stats.norm.ppf(1 - args.alpha / 2) + stats.norm.ppf(args.power)
    evaluated = sum(len(asked) for asked in questions.values())
    pairs = []
    for a, b in comparison_pairs(list(averages), averages):
        score_a, score_b = per_question(predictions, questions, a), per_question(predictions, questions, b)
        diffs = np.concatenate([np.subtract(score_a[k], score_b[k]) for k in sorted(score_a)])
        sigma = float(np.std(diffs, ddof=1))
        needed = math.ceil((z * sigma / args.delta) ** 2)
        pairs.append({"a": a, "b": b, "sigma_d": round(sigma, 2), "questions_needed": needed})
    needed = max((pair["questions_needed"] for pair in pairs), default=0)
    result = {
        "delta": args.delta,
        "power": args.power,
        "alpha": args.alpha,
        "questions_evaluated": evaluated,
        "pairs": pairs,
        "questions_needed": needed,
        "per_benchmark": math.ceil(needed / max(1, len(questions))),
    }
    if args.evaluate_minutes is not None:
        result["evaluate_minutes_at_needed"] = round(args.evaluate_minutes * needed / evaluated, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Per-method, per-benchmark numbers for the evaluation table.

F1-Recall and exact match are percentages, as the paper reports them; F1-Recall
comes with its 95 % bootstrap interval (`r1router.evaluation.intervals`). Routing
accuracy compares each step's KB with the gold plan's, stop decisions included,
and the confusion table says where the wrong ones went; methods that do not
route (direct, RAG baselines) have neither.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from r1router.benchmarks.schema import Question
from r1router.evaluation.f1_recall import exact_match, f1_recall
from r1router.evaluation.intervals import cell_interval
from r1router.router.trajectory import Trajectory

PER_QUESTION = "f1_recall_per_question"


def gold_route(question: Question, max_steps: int) -> list[str]:
    """The gold KB per step the loop can take, plus the stop decision when the loop asks for one.

    After `max_steps` the loop stops without asking, so a plan of `max_steps` or more
    steps has no comparable stop decision.
    """
    kbs = [step.kb for step in question.gold_plan or []]
    return kbs[:max_steps] + (["none"] if len(kbs) < max_steps else [])


NOT_REACHED = "not reached"  # a gold step the run never took: it stopped, or failed, before it


def route_pairs(questions: list[Question], trajectories: list[Trajectory], max_steps: int) -> list[tuple[str, str]]:
    """(gold KB or `none`, chosen KB or `none`/`not reached`) for every step of every gold route."""
    pairs = []
    for question, trajectory in zip(questions, trajectories, strict=True):
        if question.gold_plan is None:
            continue
        chosen = list(trajectory.route)
        gold = gold_route(question, max_steps)
        pairs += [(kb, chosen[i] if i < len(chosen) else NOT_REACHED) for i, kb in enumerate(gold)]
    return pairs


def routing_accuracy(pairs: list[tuple[str, str]]) -> float | None:
    """Share of gold steps routed to the gold KB; a step the run never reached counts as wrong, not as a stop."""
    return round(sum(gold == chosen for gold, chosen in pairs) / len(pairs), 4) if pairs else None


def routing_confusion(pairs: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """`{gold: {chosen: count}}`: which KB a router picks where the gold plan wants each one (and stop)."""
    table: dict[str, Counter[str]] = {}
    for gold, chosen in pairs:
        table.setdefault(gold, Counter())[chosen] += 1
    return {gold: dict(sorted(counts.items())) for gold, counts in sorted(table.items())}


def kb_distribution(trajectories: list[Trajectory]) -> dict[str, dict[str, int]]:
    """Counts of each KB (and `none` = stop) chosen at step 1, 2, ..."""
    per_step: dict[str, Counter[str]] = {}
    for trajectory in trajectories:
        for index, kb in enumerate(trajectory.route, start=1):
            per_step.setdefault(str(index), Counter())[kb] += 1
    return {step: dict(sorted(counts.items())) for step, counts in per_step.items()}


YES_NO = frozenset({"yes", "no", "true", "false"})


def guessable(question: Question) -> bool:
    """An answer a reader can guess without knowing anything: yes/no, or one of the names the question offers.

    "Who is younger, X or Y?" answered "X", or a TabFact-style claim answered "yes",
    is right half the time by a coin: such questions measure little about retrieval.
    """
    text = question.question.lower()
    golds = [gold.strip().lower() for gold in question.golds if gold.strip()]
    return bool(golds) and all(gold in YES_NO or gold in text for gold in golds)


def gold_args(question: Question) -> tuple[list[str], list[tuple[float, float]]]:
    # The paper scores a range-valued InfoSeek answer against the range alone.
    return ([] if question.gold_ranges else question.golds), question.gold_ranges


def method_metrics(
    questions: list[Question], trajectories: list[Trajectory], *, routes: bool, max_steps: int
) -> dict[str, Any]:
    n = len(questions)
    if n == 0:
        raise ValueError("no questions to score")
    f1 = [f1_recall(t.final_answer, *gold_args(q)) for q, t in zip(questions, trajectories, strict=True)]
    scores = [100 * value for value in f1]
    em = sum(exact_match(t.final_answer, *gold_args(q)) for q, t in zip(questions, trajectories, strict=True))
    wall = max(t.seconds for t in trajectories)
    hard = [score for question, score in zip(questions, scores, strict=True) if not guessable(question)]
    pairs = route_pairs(questions, trajectories, max_steps) if routes else []
    return {
        "questions": n,
        "f1_recall": round(100 * sum(f1) / n, 2),
        "f1_recall_ci95": cell_interval(scores),
        # per question, in file order: the paired comparisons between methods need them (popped before eval.json)
        PER_QUESTION: [round(score, 4) for score in scores],
        "guessable_share": round(100 * (n - len(hard)) / n, 2),  # percent of questions with a guessable answer
        "chance_f1_recall": round(50 * (n - len(hard)) / n, 2),  # a coin on those (two options each), 0 elsewhere
        "f1_recall_unguessable": round(sum(hard) / len(hard), 2) if hard else None,
        "exact_match": round(100 * em / n, 2),
        "retrievals_per_question": round(sum(t.retrievals for t in trajectories) / n, 3),
        "routing_accuracy": routing_accuracy(pairs) if routes else None,
        "routing_confusion": routing_confusion(pairs) if routes else {},
        "format_error_rate": round(
            sum(t.format_errors for t in trajectories) / max(1, sum(t.outputs for t in trajectories)), 4
        ),
        "questions_per_second": round(n / wall, 4) if wall > 0 else None,
        "mean_latency_seconds": round(sum(t.seconds for t in trajectories) / n, 3),
        "kb_distribution": kb_distribution(trajectories) if routes else {},
    }

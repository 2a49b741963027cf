"""Filtering: keep only trajectories worth imitating, say why each other one was dropped, write step rows.

Checks, in order; a trajectory is dropped for the first one it fails, and
every failed check is also counted on its own:

- `empty_sub_answer`: a retrieval step whose sub-answer is empty; its ans row
  would teach the policy to answer nothing.
- `off_plan` (with `require_evidence`): the retrieval steps do not follow the
  gold plan's KBs, step for step, so their evidence cannot be checked.
- `evidence_missed` (with `require_evidence`): a retrieval step's hits contain
  none of its gold step's evidence records (any one of them states the fact,
  as retrieval recall counts it in `r1router.kb.evaluate`).
- `answer_below_threshold`: the final answer's F1-Recall against the golds is
  below `min_f1_recall` (the paper keeps only 1.0).

The report also counts how many trajectories would pass at other thresholds
(the other checks unchanged), which is what to look at before choosing one.

Kept trajectories are split into train and held-out by a hash of the
question id, so a question (and every step row of it) is on one side only,
and the split never changes when other questions are added or dropped.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1router.errors import ConfigError
from r1router.evaluation.f1_recall import f1_recall
from r1router.io import atomic_dir
from r1router.training.steps import StepRow, write_step_rows
from r1router.training.synthesis import Synthesized

REASONS = ("empty_sub_answer", "off_plan", "evidence_missed", "answer_below_threshold")
TRAIN_FILE, HELDOUT_FILE = "train.jsonl", "heldout.jsonl"


@dataclass(frozen=True)
class FilterConfig:
    min_f1_recall: float = 1.0
    require_evidence: bool = False
    heldout_fraction: float = 0.1
    heldout_salt: str = "r1router-heldout-v1"
    report_thresholds: tuple[float, ...] = (1.0, 0.5, 0.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_f1_recall <= 1.0 or not 0.0 <= self.heldout_fraction < 1.0:
            raise ConfigError(
                f"min_f1_recall must be in [0, 1] and heldout_fraction in [0, 1) "
                f"(got {self.min_f1_recall}, {self.heldout_fraction})"
            )


def final_score(record: Synthesized) -> float:
    q = record.question
    return f1_recall(record.trajectory.final_answer, q.golds, q.gold_ranges)


def failed_checks(record: Synthesized, config: FilterConfig, threshold: float | None = None) -> list[str]:
    """The checks `record` fails, in `REASONS` order (empty: keep it)."""
    steps = [step for step in record.trajectory.steps if step.kb is not None]
    failed = []
    if any(not (step.sub_answer or "").strip() for step in steps):
        failed.append("empty_sub_answer")
    if config.require_evidence:
        plan = record.question.gold_plan
        if plan is None:
            raise ConfigError(f"require_evidence: question {record.question.qid} has no gold plan")
        if [step.kb for step in steps] != [gold.kb for gold in plan]:
            failed.append("off_plan")
        elif any(not set(gold.evidence) & {h.id for h in step.hits} for step, gold in zip(steps, plan, strict=True)):
            failed.append("evidence_missed")
    if final_score(record) < (config.min_f1_recall if threshold is None else threshold):
        failed.append("answer_below_threshold")
    return failed


def is_heldout(record: Synthesized, fraction: float, salt: str) -> bool:
    key = f"{salt}:{record.question.dataset}:{record.question.qid}".encode()
    return int(hashlib.sha256(key).hexdigest()[:16], 16) < fraction * 16**16


@dataclass
class FilterResult:
    train: list[StepRow]
    heldout: list[StepRow]
    report: dict[str, Any]


def _rows_by_type(rows: list[StepRow]) -> dict[str, int]:
    return dict(sorted(Counter(row.step_type for row in rows).items()))


def filter_trajectories(records: list[Synthesized], config: FilterConfig) -> FilterResult:
    """Judge every trajectory, count each drop by reason and benchmark, and convert the kept ones to step rows."""
    train: list[StepRow] = []
    heldout: list[StepRow] = []
    dropped: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    passing = Counter({str(t): 0 for t in config.report_thresholds})
    by_benchmark: dict[str, dict[str, Any]] = {}
    kept = kept_heldout = 0
    for record in records:
        bench = by_benchmark.setdefault(
            record.question.dataset, {"trajectories": 0, "kept": 0, "dropped_by_reason": Counter()}
        )
        bench["trajectories"] += 1
        reasons = failed_checks(record, config)
        failed.update(reasons)
        for threshold in config.report_thresholds:
            passing[str(threshold)] += not failed_checks(record, config, threshold)
        if reasons:
            dropped[reasons[0]] += 1
            bench["dropped_by_reason"][reasons[0]] += 1
            continue
        kept += 1
        bench["kept"] += 1
        if is_heldout(record, config.heldout_fraction, config.heldout_salt):
            kept_heldout += 1
            heldout += record.step_rows()
        else:
            train += record.step_rows()
    report = {
        "trajectories": len(records),
        "kept": kept,
        "kept_heldout": kept_heldout,
        "dropped": sum(dropped.values()),
        "dropped_by_reason": {reason: dropped[reason] for reason in REASONS},
        "failed_checks": {reason: failed[reason] for reason in REASONS},
        "pass_at_threshold": dict(passing),
        "mean_final_f1_recall": round(sum(map(final_score, records)) / len(records), 4) if records else 0.0,
        "by_benchmark": {
            name: {**b, "dropped_by_reason": dict(sorted(b["dropped_by_reason"].items()))}
            for name, b in sorted(by_benchmark.items())
        },
        "rows": {"train": _rows_by_type(train), "heldout": _rows_by_type(heldout)},
    }
    return FilterResult(train, heldout, report)


def write_step_dir(result: FilterResult, out_dir: Path) -> None:
    """`train.jsonl` and `heldout.jsonl`, swapped in together (a reader never sees one new and one old)."""
    with atomic_dir(out_dir) as tmp:
        write_step_rows(tmp / TRAIN_FILE, result.train)
        write_step_rows(tmp / HELDOUT_FILE, result.heldout)

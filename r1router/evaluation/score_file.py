"""Score a file of model answers the way the paper does: one F1-Recall number per dataset.

The input is the paper's released result format: each line is a benchmark record
plus the model's `llm_answer` (a string, or {"answer": ...}). Which field holds the
golds depends on the dataset, exactly as in OpenBMB/R1-Router `src/evaluate.py`
`dataset_evaluate`: `answer` (one string) for openwikitqa, 2wikimultihopqa and tabfact,
the `answer` list for dyn_vqa and webqa, and `answer_eval` for infoseek, where a
leading {"wikidata", "range"} entry replaces every gold by the range's values.
`demo_<name>` datasets read like `<name>`.

Every line is validated before any is scored, so a bad line stops the run with a
DataError naming file, line and field instead of a number computed over part of a file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1router.benchmarks.registry import DatasetRule, dataset_rule
from r1router.errors import DataError
from r1router.evaluation.f1_recall import exact_match, extract_answer, f1_recall
from r1router.evaluation.intervals import cell_interval
from r1router.io.jsonl import iter_jsonl


@dataclass(frozen=True)
class ScoredAnswer:
    """One line of a predictions file, reduced to what the metric needs."""

    line: int
    prediction: str  # after <answer> extraction
    golds: tuple[str, ...]
    gold_ranges: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class ScoreReport:
    """Per-question scores of one file and their means (fractions in [0, 1])."""

    path: str
    dataset: str
    f1_recalls: tuple[float, ...]
    exact_matches: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.f1_recalls)

    @property
    def f1_recall(self) -> float:
        return sum(self.f1_recalls) / self.count

    @property
    def exact_match(self) -> float:
        return sum(self.exact_matches) / self.count

    @property
    def f1_recall_percent(self) -> float:
        """evaluate.py's printed figure: round(100 * float(sum(rec_list)) / len(rec_list), 2)."""
        return round(100 * float(sum(self.f1_recalls)) / self.count, 2)


def _error(path: Path, line: int, field: str, message: str) -> DataError:
    return DataError(path, message, line=line, field=field)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _prediction(path: Path, line: int, record: dict[str, Any]) -> str:
    """evaluate.py: `llm_answer` if it is a string, else `llm_answer['answer']`; then <answer> extraction."""
    if "llm_answer" not in record:
        raise _error(path, line, "llm_answer", "required field is missing")
    answer = record["llm_answer"]
    if isinstance(answer, dict):
        if "answer" not in answer:
            raise _error(path, line, "llm_answer.answer", "required field is missing")
        answer = answer["answer"]
        if not isinstance(answer, str):
            raise _error(path, line, "llm_answer.answer", f"expected a string, got {type(answer).__name__}")
    elif not isinstance(answer, str):
        raise _error(path, line, "llm_answer", f"expected a string or {{'answer': str}}, got {type(answer).__name__}")
    return extract_answer(answer)


def _gold_list(path: Path, line: int, record: dict[str, Any], field: str, numbers_ok: bool) -> tuple[str, ...]:
    """A non-empty list of gold strings; Dyn-VQA's bare numbers become str(number), as preprocess() does."""
    value = record[field]
    if not isinstance(value, list) or not value:
        raise _error(path, line, field, f"expected a non-empty list of strings, got {value!r}")
    golds = []
    for index, entry in enumerate(value):
        if isinstance(entry, str) or (numbers_ok and _is_number(entry)):
            golds.append(str(entry))
        else:
            raise _error(path, line, f"{field}[{index}]", f"expected a string, got {type(entry).__name__} ({entry!r})")
    return tuple(golds)


def _answer_eval(path: Path, line: int, record: dict[str, Any]) -> tuple[tuple[str, ...], tuple[tuple[float, float]]]:
    """InfoSeek: a leading range entry means the range alone is the gold (other entries unused, as officially)."""
    entries = record["answer_eval"]
    if not isinstance(entries, list) or not entries:
        raise _error(path, line, "answer_eval", f"expected a non-empty list, got {entries!r}")
    first = entries[0]
    if not isinstance(first, dict):
        return _gold_list(path, line, record, "answer_eval", numbers_ok=False), ()
    bounds = first.get("range")
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds)):
        raise _error(path, line, "answer_eval[0].range", f"expected two finite numbers [lo, hi], got {bounds!r}")
    if bounds[0] > bounds[1]:
        raise _error(path, line, "answer_eval[0].range", f"range {bounds} has lo > hi")
    return (), ((bounds[0], bounds[1]),)  # kept as read: int bounds expand to "1728", floats to "1728.0"


def _scored_answer(path: Path, line: int, record: dict[str, Any], rule: DatasetRule) -> ScoredAnswer:
    prediction = _prediction(path, line, record)
    field = "answer_eval" if rule.answer_eval else "answer"
    if field not in record:
        raise _error(path, line, field, "required field is missing")
    if rule.answer_eval:
        golds, ranges = _answer_eval(path, line, record)
        return ScoredAnswer(line, prediction, golds, ranges)
    if rule.answer_is_list:
        return ScoredAnswer(line, prediction, _gold_list(path, line, record, "answer", rule.numeric_answers))
    answer = record["answer"]
    if not isinstance(answer, str):
        raise _error(path, line, "answer", f"expected a string, got {type(answer).__name__} ({answer!r})")
    return ScoredAnswer(line, prediction, (answer,))


def read_predictions(path: Path, dataset: str) -> list[ScoredAnswer]:
    """Validate every line of a predictions file for `dataset` and return what the metric needs."""
    path = Path(path)
    rule = dataset_rule(dataset)
    answers = [_scored_answer(path, line, record, rule) for line, record in iter_jsonl(path)]
    if not answers:
        raise DataError(path, "no predictions to score")
    return answers


def score_file(path: Path, dataset: str) -> ScoreReport:
    """F1-Recall and exact match of every answer in `path`, read as `dataset` (validated first)."""
    answers = read_predictions(path, dataset)
    return ScoreReport(
        path=str(path),
        dataset=dataset,
        f1_recalls=tuple(f1_recall(a.prediction, a.golds, a.gold_ranges) for a in answers),
        exact_matches=tuple(exact_match(a.prediction, a.golds, a.gold_ranges) for a in answers),
    )


def format_score(report: ScoreReport) -> str:
    """A short human summary whose last line is the paper's figure, `F1-Recall: NN.NN` (percent)."""
    return "\n".join(
        [
            f"{report.dataset}: {report.count} answers scored from {report.path}",
            f"Exact match: {100 * report.exact_match:.2f}",
            "F1-Recall 95 % bootstrap interval: [{:.2f}, {:.2f}]".format(
                *cell_interval([100 * float(value) for value in report.f1_recalls])
            ),
            f"F1-Recall: {report.f1_recall_percent:.2f}",
        ]
    )

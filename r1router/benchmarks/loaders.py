"""Read a benchmark's question file into `Question`s, validating every record first.

A bad record stops the load with a DataError naming file, line and field: an
evaluation over fewer questions than the file holds would quietly change the
reported numbers, so nothing is skipped. The whole file is validated before
any question is returned, so no stage starts work on a file that fails later.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from r1router.benchmarks.registry import SPLITS, DatasetRule, dataset_rule, question_file, world_benchmarks
from r1router.benchmarks.schema import ENTITY_SPLITS, PlanStep, Question
from r1router.errors import ConfigError, DataError
from r1router.io import iter_jsonl
from r1router.kb.kinds import KINDS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PLAN_STEP_FIELDS = ("sub_question", "kb", "answer", "evidence")


class _Record:
    """One JSON line plus where it came from, so every check can name file, line and field."""

    def __init__(self, path: Path, line: int, data: dict[str, Any]):
        self.path, self.line, self.data = path, line, data
        self.used: set[str] = set()

    def error(self, field: str, message: str) -> DataError:
        return DataError(self.path, message, line=self.line, field=field)

    def get(self, field: str, required: bool = True) -> Any:
        self.used.add(field)
        if field not in self.data:
            if required:
                raise self.error(field, "required field is missing")
            return None
        return self.data[field]


def _text(record: _Record, field: str, value: Any, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise record.error(field, f"expected a string, got {type(value).__name__} ({value!r})")
    if not empty_ok and not value.strip():
        raise record.error(field, "must not be empty")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _id(record: _Record, field: str, required: bool) -> str | None:
    """Ids may be strings or integers (Dyn-VQA's `image_id` is 1, 2, ...); they are used as strings."""
    value = record.get(field, required)
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(record, field, value)


def _answer_strings(record: _Record, field: str, value: Any, numeric_ok: bool) -> list[str]:
    if not isinstance(value, list) or not value:
        raise record.error(field, f"expected a non-empty list of strings, got {value!r}")
    answers = []
    for index, entry in enumerate(value):
        if numeric_ok and _number(entry):
            answers.append(f"{entry:g}" if isinstance(entry, float) else str(entry))
        else:
            answers.append(_text(record, f"{field}[{index}]", entry))
    return answers


def _golds(record: _Record, rule: DatasetRule) -> tuple[list[str], list[tuple[float, float]]]:
    """Gold strings (deduplicated, order kept) and numeric ranges, per the dataset's rule."""
    answer = record.get("answer")
    if not rule.answer_is_list:
        return [_text(record, "answer", answer)], []
    answers = _answer_strings(record, "answer", answer, rule.numeric_answers)
    if not rule.answer_eval:
        return list(dict.fromkeys(answers)), []
    entries = record.get("answer_eval")
    if not isinstance(entries, list) or not entries:
        raise record.error("answer_eval", f"expected a non-empty list, got {entries!r}")
    strings, ranges = [], []
    for index, entry in enumerate(entries):
        field = f"answer_eval[{index}]"
        if isinstance(entry, dict):
            ranges.append(_range(record, field, entry))
        elif isinstance(entry, str):
            strings.append(_text(record, field, entry))
        else:
            raise record.error(field, f"expected a string or a {{wikidata, range}} object, got {entry!r}")
    # A numeric question's answer_eval holds only a range; its `answer` ("6.5-7.0", "1.18") stays the string gold.
    return list(dict.fromkeys(strings or answers)), ranges


def _range(record: _Record, field: str, entry: dict[str, Any]) -> tuple[float, float]:
    bounds = entry.get("range")
    if set(entry) != {"wikidata", "range"} or not _number(entry["wikidata"]):
        raise record.error(field, f"expected {{'wikidata': number, 'range': [lo, hi]}}, got {entry!r}")
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(_number(b) for b in bounds)):
        raise record.error(field, f"range must be two numbers [lo, hi], got {bounds!r}")
    if bounds[0] > bounds[1]:
        raise record.error(field, f"range {bounds} has lo > hi")
    return float(bounds[0]), float(bounds[1])


def _plan(record: _Record) -> list[PlanStep]:
    steps = record.get("gold_plan")
    if not isinstance(steps, list):  # [] is a question answered without retrieving (a released plan may be)
        raise record.error("gold_plan", f"expected a list of steps, got {steps!r}")
    plan = []
    for index, step in enumerate(steps):
        where = f"gold_plan[{index}]"
        if not isinstance(step, dict):
            raise record.error(where, f"expected an object, got {step!r}")
        if set(step) != set(PLAN_STEP_FIELDS):
            raise record.error(where, f"has fields {sorted(step)}; a step has exactly {list(PLAN_STEP_FIELDS)}")
        if step["kb"] not in KINDS:  # the registry: a registered fourth kind's gold steps load too
            raise record.error(f"{where}.kb", f"unknown KB {step['kb']!r} (use one of {list(KINDS)})")
        evidence = step["evidence"]
        if not isinstance(evidence, list):
            raise record.error(f"{where}.evidence", f"expected a list of KB record ids, got {evidence!r}")
        plan.append(
            PlanStep(
                sub_question=_text(record, f"{where}.sub_question", step["sub_question"]),
                kb=step["kb"],
                # a released plan keeps the teacher's sub-answer as it was, empty ones included
                answer=_text(record, f"{where}.answer", step["answer"], empty_ok=True),
                evidence=[_text(record, f"{where}.evidence[{i}]", e) for i, e in enumerate(evidence)],
            )
        )
    return plan


def _extra(record: _Record) -> dict[str, Any]:
    """Fields no rule consumed; NaN (a pandas export's "missing", as in Dyn-VQA's `gloden_query`) becomes None."""
    return {
        key: None if isinstance(value, float) and math.isnan(value) else value
        for key, value in record.data.items()
        if key not in record.used
    }


def _question(record: _Record, dataset: str, rule: DatasetRule) -> Question:
    question = _text(record, "question", record.get("question"))
    golds, ranges = _golds(record, rule)
    image_id = _id(record, "image_id", required=rule.image)
    qid = _id(record, rule.id_field, required=rule.demo) if rule.id_field else None
    plan = _plan(record) if rule.demo else None
    if rule.entity_split and "entity_split" not in record.data:
        raise record.error("entity_split", "required field is missing")
    if rule.entity_split and (split := record.data["entity_split"]) not in ENTITY_SPLITS:
        raise record.error("entity_split", f"expected one of {list(ENTITY_SPLITS)}, got {split!r}")
    return Question(
        qid=qid or f"{dataset}-{record.line}",
        question=question,
        golds=golds,
        dataset=dataset,
        image_id=image_id,
        gold_ranges=ranges,
        gold_plan=plan,
        extra=_extra(record),
    )


def _image_names(image_root: Path) -> set[str]:
    """One directory listing instead of three `stat` calls per question."""
    if not image_root.is_dir():
        raise DataError(image_root, "image directory not found")
    return set(os.listdir(image_root))


def resolve_image(image_root: Path, image_id: str) -> Path:
    """The image file for `image_id` (`<image_id>.png`, `.jpg` or `.jpeg`); a DataError if there is none."""
    for suffix in IMAGE_SUFFIXES:
        candidate = Path(image_root) / f"{image_id}{suffix}"
        if candidate.is_file():
            return candidate
    raise DataError(image_root, f"no image file {image_id}{{{','.join(IMAGE_SUFFIXES)}}}", field="image_id")


def question_image(question: Question, image_root: Path | None) -> Path | None:
    """The query image of `question` under `image_root`; None when it has no image or no root is given.

    The one resolver of query images: the router loop, the baselines and
    retrieval evaluation all call it, so they find the same file (the paper's
    `.jpg` images as well as the demo world's `.png`).
    """
    if image_root is None or not question.image_id:
        return None
    return resolve_image(image_root, question.image_id)


MISSING_IMAGE_POLICIES = ("fail", "text-only")


def load_benchmark(
    path: Path, dataset: str, image_root: Path | None = None, missing_images: str = "fail"
) -> list[Question]:
    """Load and validate every question of `path` as `dataset`; with `image_root`, check each image exists.

    A question whose image is missing is an error naming its line (`missing_images="fail"`), or, with
    `"text-only"`, is kept without its image and marked `extra["image_missing"]`, so the evaluation
    counts such rows instead of dropping them or reporting them as if they had their image.
    """
    if missing_images not in MISSING_IMAGE_POLICIES:
        raise ConfigError(f"missing_images '{missing_images}' is not one of {', '.join(MISSING_IMAGE_POLICIES)}")
    path = Path(path)
    rule = dataset_rule(dataset)
    images = _image_names(Path(image_root)) if image_root is not None else None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for line, data in iter_jsonl(path):
        record = _Record(path, line, data)
        question = _question(record, dataset, rule)
        if question.qid in seen:
            message = f"duplicate id '{question.qid}' (first on line {seen[question.qid]})"
            raise record.error(rule.id_field or "question_id", message)
        seen[question.qid] = line
        image_id = question.image_id
        if images is not None and image_id is not None and not any(f"{image_id}{s}" in images for s in IMAGE_SUFFIXES):
            if missing_images == "fail":
                raise record.error("image_id", f"image {image_id}.png|.jpg|.jpeg not found in {image_root}")
            question = replace(question, image_id=None, extra={**question.extra, "image_missing": True})
        questions.append(question)
    if not questions:
        raise DataError(path, "no questions in file")
    return questions


def load_split(world_dir: Path, split: str, benchmarks: tuple[str, ...] | None = None) -> list[Question]:
    """One split of a built world's benchmarks (default: every one it holds), with their images checked."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split '{split}' (use one of {', '.join(SPLITS)})")
    world_dir = Path(world_dir)
    questions = []
    for name in benchmarks or world_benchmarks(world_dir, split):
        questions += load_benchmark(question_file(world_dir, name, split), name, world_dir / "images")
    return questions

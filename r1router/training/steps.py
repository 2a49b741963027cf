"""Step rows: one training example per routing or answering step, in the paper's released schema.

A row is `{step_type, problem, system, answer, images}` exactly as the paper's
Step-GRPO file holds it (`problem` and `system` are the user and system turns
byte for byte, see `r1router.router.prompts`), so our synthesised rows and the
paper's released ones train through the same code:

- `ret`: the policy sees the decomposition turn; `answer` is the gold decision
  `{"query": sub-question, "retriever": [name]}`, lowercase as released, and
  `{"query": "none", "retriever": ["none"]}` for stop.
- `ans`: the sub-answer turn (`answer` is the sub-answer) or the final-answer
  turn (`answer` is the list of gold answers).

The released rows carry no `<think>` text: the paper's Step-GRPO rewards only
the sub-question, the retriever and the answer, never the reasoning. An SFT
target needs some think text for the format, so `completion` writes a fixed
one-liner that states only what the row itself shows (whether anything has
been answered yet) instead of inventing reasoning the data does not contain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1router.benchmarks.schema import Question
from r1router.errors import DataError
from r1router.io import iter_jsonl, write_jsonl
from r1router.kb.kinds import get_kind, kind_for_retriever
from r1router.router.parsing import STOP
from r1router.router.prompts import (
    DECOMPOSE_SYSTEM_ZERO_SHOT,
    FINAL_ANSWER_SYSTEM,
    IMAGE_PLACEHOLDER,
    SUB_ANSWER_SYSTEM,
    Message,
    _system,
    _user,
    decompose_problem,
    final_answer_problem,
    format_decision,
    sub_answer_problem,
)
from r1router.router.trajectory import Trajectory

STEP_TYPES = ("ret", "ans")
FIELDS = ("step_type", "problem", "system", "answer", "images")

THINK_FIRST = "Nothing has been retrieved yet, so the origin question needs its first single-hop sub-question."
THINK_NEXT = "The answers so far do not yet settle the origin question, so one more single-hop sub-question is needed."
THINK_STOP = "The sub-questions answered so far give what the origin question needs, so no more retrieval is needed."
THINK_SUB_ANSWER = "The retrieved information is read for the fact the question asks about."
THINK_FINAL = "The sub-questions and their answers are combined to answer the origin question."


@dataclass(frozen=True)
class StepRow:
    step_type: str  # "ret" | "ans"
    problem: str  # the user turn; ends with IMAGE_PLACEHOLDER when the row has an image, as released
    system: str
    answer: Any  # ret: {"query": str, "retriever": [str]}; ans: str (sub-answer) or list[str] (final golds)
    images: tuple[str, ...] = ()  # image paths, relative to an image root (absolute in the released file)

    @property
    def is_final(self) -> bool:
        """The final-answer step: its answer is the gold list, not one sub-answer."""
        return self.step_type == "ans" and isinstance(self.answer, list)

    @property
    def gold_kb(self) -> str | None:
        """A ret row's gold KB kind (`text`, `table`, `image`), or None for stop."""
        if self.step_type != "ret":
            raise ValueError("gold_kb is defined for ret rows only")
        kind = kind_for_retriever(self.answer["retriever"][0])
        return kind.name if kind is not None else None

    def messages(self, image_root: Path | None = None) -> list[Message]:
        """`[system, user]` as the router loop builds them: placeholder removed, the image as a content part."""
        text = self.problem.removesuffix(IMAGE_PLACEHOLDER) if self.images else self.problem
        image = None
        if self.images:
            image = str(Path(image_root) / self.images[0]) if image_root is not None else self.images[0]
        return [_system(self.system), _user(text, image)]

    def completion(self) -> str:
        """The SFT target: a well-formed decision (ret) or `<think>…</think>\\n<answer>…</answer>` (ans)."""
        if self.step_type == "ret":
            kb = self.gold_kb
            if kb is None:
                return format_decision(THINK_STOP, None, None)
            think = THINK_NEXT if "\nSub-question1: " in self.problem else THINK_FIRST
            return format_decision(think, self.answer["query"].strip(), kb)
        if self.is_final:
            return f"<think>{THINK_FINAL}</think>\n<answer>{self.answer[0].strip()}</answer>"
        return f"<think>{THINK_SUB_ANSWER}</think>\n<answer>{self.answer.strip()}</answer>"

    def to_dict(self) -> dict[str, Any]:
        answer = dict(self.answer) if isinstance(self.answer, dict) else self.answer
        return {
            "step_type": self.step_type,
            "problem": self.problem,
            "system": self.system,
            "answer": answer,
            "images": list(self.images),
        }


@dataclass(frozen=True)
class _At:
    """Where a value sits (file, line, field prefix inside the record), to name it in a DataError."""

    path: Path
    line: int
    prefix: str = ""

    def error(self, field: str, message: str) -> DataError:
        return DataError(self.path, message, line=self.line, field=self.prefix + field)

    def string(self, value: Any, field: str, empty_ok: bool = False) -> str:
        if not isinstance(value, str):
            raise self.error(field, f"expected a string, got {type(value).__name__} ({value!r})")
        if not empty_ok and not value.strip():
            raise self.error(field, "must not be empty")
        return value


def _ret_answer(value: Any, at: _At) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != {"query", "retriever"}:
        raise at.error("answer", f"expected {{'query': str, 'retriever': [str]}}, got {value!r}")
    query = at.string(value["query"], "answer.query")
    retrievers = value["retriever"]
    if not isinstance(retrievers, list) or len(retrievers) != 1:
        raise at.error("answer.retriever", f"expected a list of one retriever, got {retrievers!r}")
    name = at.string(retrievers[0], "answer.retriever")
    stop = name.strip().lower() == STOP
    if not stop and kind_for_retriever(name) is None:
        raise at.error("answer.retriever", f"unknown retriever {name!r}")
    if stop != (query.strip().lower() == STOP):
        raise at.error("answer.query", f"query {query!r} and retriever {name!r} disagree on stopping")
    return {"query": query, "retriever": [name]}


def _ans_answer(value: Any, at: _At) -> str | list[str]:
    if isinstance(value, list):
        if not value:
            raise at.error("answer", "expected at least one gold answer")
        return [at.string(v, f"answer[{i}]") for i, v in enumerate(value)]
    # The released file holds one empty sub-answer; it is data, so it loads (the filter drops ours).
    return at.string(value, "answer", empty_ok=True)


def step_row_from_dict(data: dict, path: Path, line: int, field_prefix: str = "", images: Any = None) -> StepRow:
    """Validate one row; a DataError names file, line and field (`field_prefix` locates it inside a record).

    `images` is given for the released file, where the images belong to the trajectory, not the step.
    """
    at = _At(Path(path), line, field_prefix)
    if not isinstance(data, dict):
        raise DataError(path, f"expected an object, got {data!r}", line=line, field=field_prefix.rstrip(".") or None)
    allowed = FIELDS if images is None else FIELDS[:-1]
    for key in data:
        if key not in allowed:
            raise at.error(key, f"unknown field (a step row has {list(allowed)})")
    for key in allowed[:4]:
        if key not in data:
            raise at.error(key, "required field is missing")
    step_type = data["step_type"]
    if step_type not in STEP_TYPES:
        raise at.error("step_type", f"expected one of {list(STEP_TYPES)}, got {step_type!r}")
    problem = at.string(data["problem"], "problem")
    system = at.string(data["system"], "system")
    answer = (_ret_answer if step_type == "ret" else _ans_answer)(data["answer"], at)
    image_at = at if images is None else _At(Path(path), line)  # the released file: images of the trajectory
    raw_images = data.get("images", []) if images is None else images
    if not isinstance(raw_images, list) or len(raw_images) > 1:
        raise image_at.error("images", f"expected a list of at most one image path, got {raw_images!r}")
    paths = tuple(image_at.string(p, f"images[{i}]") for i, p in enumerate(raw_images))
    if paths and not problem.endswith(IMAGE_PLACEHOLDER):
        raise at.error("problem", f"a row with an image must end with {IMAGE_PLACEHOLDER}")
    return StepRow(step_type, problem, system, answer, paths)


def read_step_rows(path: str | Path) -> list[StepRow]:
    """Every row of a step-row JSONL file, validated; a bad one stops the read."""
    path = Path(path)
    rows = [step_row_from_dict(data, path, line) for line, data in iter_jsonl(path)]
    if not rows:
        raise DataError(path, "no step rows in file")
    return rows


def write_step_rows(path: str | Path, rows: Iterable[StepRow]) -> int:
    """Write rows as JSONL atomically; return how many."""
    return write_jsonl(path, (row.to_dict() for row in rows))


def iter_released_trajectories(path: str | Path) -> Iterator[tuple[int, list[StepRow]]]:
    """(line, rows) per trajectory of the paper's released Step-GRPO file: `{"images": [...], "steps": [...]}`."""
    path = Path(path)
    found = False
    for line, record in iter_jsonl(path):
        for key in ("images", "steps"):
            if key not in record:
                raise DataError(path, "required field is missing", line=line, field=key)
        steps = record["steps"]
        if not isinstance(steps, list) or not steps:
            raise DataError(path, f"expected a non-empty list of steps, got {steps!r}", line=line, field="steps")
        found = True
        yield line, [
            step_row_from_dict(step, path, line, field_prefix=f"steps[{i}].", images=record["images"])
            for i, step in enumerate(steps)
        ]
    if not found:
        raise DataError(path, "no trajectories in file")


def read_released_trajectories(path: str | Path) -> list[list[StepRow]]:
    """Every trajectory of a released file, each a list of its step rows."""
    return [rows for _, rows in iter_released_trajectories(path)]


def trajectory_step_rows(trajectory: Trajectory, question: Question, image: str | None = None) -> list[StepRow]:
    """One of our trajectories → its ret/ans rows, the stop row if it stopped, and the final-answer row.

    `image` is the query image's path relative to the image root; it must be
    given exactly when the question has an image, since it changes every
    problem string (the released rows end with `<image>`).
    """
    if (image is not None) != (question.image_id is not None):
        raise ValueError(f"{question.qid}: image {image!r} does not match its image_id {question.image_id!r}")
    with_image = image is not None
    images = (image,) if with_image else ()
    history: list[tuple[str, str]] = []
    rows = []
    for n, step in enumerate(trajectory.steps, start=1):
        decide = decompose_problem(question.question, history, with_image)
        if step.kb is None:
            stop = {"query": "none", "retriever": ["none"]}
            rows.append(StepRow("ret", decide, DECOMPOSE_SYSTEM_ZERO_SHOT, stop, images))
            break
        if not step.sub_question or not step.sub_answer:
            raise ValueError(f"{question.qid}: step {n} has no sub-question or no sub-answer")
        retriever = {"query": step.sub_question, "retriever": [get_kind(step.kb).retriever.lower()]}
        rows.append(StepRow("ret", decide, DECOMPOSE_SYSTEM_ZERO_SHOT, retriever, images))
        answer_problem = sub_answer_problem(step.sub_question, step.hits, with_image)
        rows.append(StepRow("ans", answer_problem, SUB_ANSWER_SYSTEM, step.sub_answer, images))
        history.append((step.sub_question, step.sub_answer))
    final = final_answer_problem(question.question, history, with_image)
    rows.append(StepRow("ans", final, FINAL_ANSWER_SYSTEM, list(question.golds), images))
    return rows

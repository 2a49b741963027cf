"""One released Step-GRPO trajectory read as what it is evidence of: a question, its golds, its gold plan, and
the passages each step retrieved.

The paper's released trajectory file (`{"images": [...], "steps": [...]}` per
line, `r1router.training.steps`) holds real questions from the paper's
training sets with the real passages its retrievers returned for every
sub-question. Both the `release` corpus (the passages) and the `release`
questions (question, golds, gold plan) are read from it through this module,
so the two agree on what a step retrieved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from r1router.corpus.retrieved import RetrievedPassage, retrieved_passages
from r1router.errors import DataError
from r1router.kb.kinds import kind_for_retriever
from r1router.router.prompts import IMAGE_PLACEHOLDER
from r1router.training.steps import StepRow, iter_released_trajectories

ORIGIN = "Origin question: "


@dataclass(frozen=True)
class ReleasedStep:
    sub_question: str
    kb: str  # a registered kind's name
    answer: str  # the released sub-answer
    passages: tuple[RetrievedPassage, ...]  # what that step's retrieval returned, in prompt order


@dataclass(frozen=True)
class ReleasedQuestion:
    line: int  # in the trajectory file
    question: str  # without the `<image>` placeholder
    golds: tuple[str, ...]
    images: tuple[str, ...]  # as released: paths on the authors' machines
    steps: tuple[ReleasedStep, ...]  # the retrieving steps; empty when the first decision was to stop


def _origin_question(row: StepRow, path: Path, line: int) -> str:
    first_line = row.problem.split("\n", 1)[0]
    if not first_line.startswith(ORIGIN):
        raise DataError(path, f"a trajectory's first step must start with {ORIGIN!r}", line=line, field="steps[0]")
    return first_line[len(ORIGIN) :].removesuffix(IMAGE_PLACEHOLDER).strip()


def _golds(row: StepRow, path: Path, line: int) -> tuple[str, ...]:
    if row.step_type != "ans" or not isinstance(row.answer, list) or not row.answer:
        raise DataError(path, "the last step must be the final answer with a list of golds", line=line, field="steps")
    return tuple(str(gold) for gold in row.answer)


def _steps(rows: list[StepRow], path: Path, line: int) -> tuple[ReleasedStep, ...]:
    steps = []
    for index, row in enumerate(rows):
        if row.step_type != "ret":
            continue
        retriever = row.answer["retriever"][0]
        kind = kind_for_retriever(retriever)
        if kind is None:  # the stop decision
            break
        following = rows[index + 1] if index + 1 < len(rows) else None
        if following is None or following.step_type != "ans" or not isinstance(following.answer, str):
            raise DataError(path, "a retrieval step must be followed by its sub-answer", line=line,
                            field=f"steps[{index + 1}]")
        passages = tuple(retrieved_passages(following.problem))
        if not passages:
            raise DataError(path, "the sub-answer prompt shows no retrieved passage", line=line,
                            field=f"steps[{index + 1}].problem")
        steps.append(ReleasedStep(row.answer["query"].strip(), kind.name, following.answer.strip(), passages))
    return tuple(steps)


def read_released_questions(path: str | Path) -> list[ReleasedQuestion]:
    """Every trajectory of a released file as a `ReleasedQuestion`; a malformed one names its line and field."""
    path = Path(path)
    questions = []
    for line, rows in iter_released_trajectories(path):
        questions.append(
            ReleasedQuestion(
                line=line,
                question=_origin_question(rows[0], path, line),
                golds=_golds(rows[-1], path, line),
                images=tuple(rows[0].images),
                steps=_steps(rows, path, line),
            )
        )
    return questions

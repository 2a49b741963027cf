"""One question of a benchmark, in a single shape for the paper's six datasets and our demo ones.

Gold answers are split in two so the F1-Recall metric can treat numbers as the
paper does for InfoSeek: `golds` holds every acceptable answer string (the metric
takes the best match over them), and `gold_ranges` holds numeric intervals
`(lo, hi)`; a prediction containing a number inside one of them counts as correct
even when no string matches. Only InfoSeek's numeric questions have ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENTITY_SPLITS = ("seen", "unseen")


@dataclass(frozen=True)
class PlanStep:
    """One gold routing step: ask `sub_question` of the `kb` knowledge base, get `answer` from `evidence`."""

    sub_question: str
    kb: str  # a registered KB kind's name (`r1router.kb.kinds`)
    answer: str
    evidence: list[str]  # ids of the KB records that hold the answer


@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    golds: list[str]
    dataset: str
    image_id: str | None = None
    gold_ranges: list[tuple[float, float]] = field(default_factory=list)
    gold_plan: list[PlanStep] | None = None  # demo benchmarks only
    extra: dict[str, Any] = field(default_factory=dict)  # every other field of the record, as read

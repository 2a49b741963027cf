"""What one question's run through a method leaves behind: every step, and the answer.

Prediction files are these records as JSONL, so any number in the evaluation
table can be traced to the sub-questions, KBs, hit ids and sub-answers behind it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from r1router.kb.hit import Hit


@dataclass
class Step:
    """One step: the routing decision (kb None = stop), what came back, and the sub-answer."""

    sub_question: str | None
    kb: str | None
    think: str = ""
    hits: list[Hit] = field(default_factory=list)
    sub_answer: str | None = None
    format_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["hits"] = [{"kb": h.kb, "id": h.id, "score": round(h.score, 6)} for h in self.hits]
        return record


@dataclass
class Trajectory:
    qid: str
    dataset: str
    question: str
    image_id: str | None
    method: str
    steps: list[Step] = field(default_factory=list)
    final_answer: str = ""
    format_errors: int = 0  # decision, sub-answer and final-answer outputs that failed to parse
    outputs: int = 0  # all model outputs generated for this question, failed ones included
    seconds: float = 0.0  # wall time from the start of the run until this answer existed

    def count(self, format_errors: int, outputs: int) -> None:
        self.format_errors += format_errors
        self.outputs += outputs

    @property
    def retrievals(self) -> int:
        return sum(len({h.kb for h in step.hits}) for step in self.steps)

    @property
    def route(self) -> list[str]:
        """KB per step with the stop decision as "none", as routing accuracy compares it."""
        return [step.kb or "none" for step in self.steps]

    def to_dict(self) -> dict[str, Any]:
        return {
            "qid": self.qid,
            "dataset": self.dataset,
            "question": self.question,
            "image_id": self.image_id,
            "method": self.method,
            "steps": [step.to_dict() for step in self.steps],
            "llm_answer": self.final_answer,
            "format_errors": self.format_errors,
            "outputs": self.outputs,
            "retrievals": self.retrievals,
            "seconds": round(self.seconds, 3),
        }

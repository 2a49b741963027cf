"""Strict reading of the policy's outputs: a decision or an answer, or a `FormatError` that says why not.

Strict because the format is itself trained for: Step-GRPO rewards a
well-formed output, so anything the parser lets through is something the
policy is never taught to avoid. Only case and whitespace are forgiven (the
paper lowercases outputs before matching). Each tag must appear exactly once,
closed, in the order the system prompt gives, with nothing but whitespace
around the tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from r1router.kb.kinds import kind_for_retriever

STOP = "none"  # the paper's word for "no sub-question" / "no retriever"


class FormatError(ValueError):
    """An output the router cannot act on; `reason` is short enough to count and log."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Decision:
    think: str
    sub_question: str | None  # None: stop and answer the origin question
    kb: str | None  # a registered KB kind's name (text, table, image, ...); None exactly when sub_question is None


@dataclass(frozen=True)
class AnswerOutput:
    think: str
    answer: str


def _blocks(text: str, tags: tuple[str, ...], optional: frozenset[str] = frozenset()) -> dict[str, str]:
    """Contents of `<tag>…</tag>` for each tag, checked to be single, closed, ordered and alone in `text`."""
    contents: dict[str, str] = {}
    position = 0
    rest = []
    for tag in tags:
        opens = [m.start() for m in re.finditer(rf"<{tag}>", text, re.IGNORECASE)]
        closes = [m.start() for m in re.finditer(rf"</{tag}>", text, re.IGNORECASE)]
        if not opens and not closes and tag in optional:
            continue
        if not opens:
            raise FormatError(f"missing <{tag}>")
        if len(opens) > 1:
            raise FormatError(f"more than one <{tag}>")
        if not closes:
            raise FormatError(f"unclosed <{tag}>")
        if len(closes) > 1:
            raise FormatError(f"more than one </{tag}>")
        start, end = opens[0], closes[0]
        if end < start:
            raise FormatError(f"</{tag}> before <{tag}>")
        if start < position:
            raise FormatError(f"<{tag}> out of order (expected {' then '.join(f'<{t}>' for t in tags)})")
        rest.append(text[position:start])
        contents[tag] = text[start + len(tag) + 2 : end]
        position = end + len(tag) + 3
    rest.append(text[position:])
    if any(piece.strip() for piece in rest):
        raise FormatError("text outside the tags")
    return contents


def parse_decision(text: str) -> Decision:
    """`<think>…</think><sub-question>…</sub-question><ret>…</ret>` → the next step, or stop."""
    blocks = _blocks(text, ("think", "sub-question", "ret"))
    sub_question = blocks["sub-question"].strip()
    if not sub_question:
        raise FormatError("empty sub-question")
    # The paper splits on commas and rejects a list where one retriever is asked for.
    retrievers = [name.strip() for name in blocks["ret"].split(",")]
    if len(retrievers) > 1:
        raise FormatError("more than one retriever")
    retriever = retrievers[0]
    if not retriever:
        raise FormatError("empty retriever")
    stop_question, stop_retriever = sub_question.lower() == STOP, retriever.lower() == STOP
    if stop_question != stop_retriever:
        raise FormatError("sub-question and retriever disagree on stopping")
    if stop_question:
        return Decision(think=blocks["think"].strip(), sub_question=None, kb=None)
    kind = kind_for_retriever(retriever)
    if kind is None:
        raise FormatError(f"unknown retriever '{retriever}'")
    return Decision(think=blocks["think"].strip(), sub_question=sub_question, kb=kind.name)


def parse_answer(text: str, require_think: bool = True) -> AnswerOutput:
    """`<think>…</think><answer>…</answer>` → the answer; the paper's get_answer requires both tags."""
    optional = frozenset() if require_think else frozenset({"think"})
    blocks = _blocks(text, ("think", "answer"), optional)
    answer = blocks["answer"].strip()
    if not answer:
        raise FormatError("empty answer")
    return AnswerOutput(think=blocks.get("think", "").strip(), answer=answer)

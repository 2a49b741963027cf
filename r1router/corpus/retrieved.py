"""Read the retrieved passages back out of a sub-answer prompt in the paper's format.

The paper's sub-answer turn is `SUB_ANSWER_PREAMBLE`, then one line per hit
(`{tag}-{i}: {passage}\\n`, numbered within its KB from 0), then
`SUB_ANSWER_REQUEST` and the sub-question (and `<image>` for a visual
question). Passages may hold newlines (a short article kept whole), so a hit
ends where the next `{tag}-{i}: ` line begins, not at the first newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from r1router.hashing import text_sha256
from r1router.kb.kinds import KINDS
from r1router.router.prompts import SUB_ANSWER_PREAMBLE, SUB_ANSWER_REQUEST


@dataclass(frozen=True)
class RetrievedPassage:
    tag: str  # ter / tar / tir
    position: int  # the hit's number within its KB
    text: str


def content_id(tag: str, text: str) -> str:
    """A passage's id from its KB tag and exact text: the release corpus's record ids, and how a released
    gold passage is recognised among the hits of any corpus built the paper's way (same bytes, same id)."""
    return f"{tag}-{text_sha256(text)[:16]}"


def _hit_start() -> re.Pattern[str]:
    tags = "|".join(sorted({kind.tag for kind in KINDS.values()}))
    return re.compile(rf"(?:^|\n)({tags})-(\d+): ")


def retrieved_passages(problem: str) -> list[RetrievedPassage]:
    """The hits shown in one sub-answer `problem`; [] for a prompt of another kind (decomposition, final answer)."""
    if not problem.startswith(SUB_ANSWER_PREAMBLE):
        return []
    end = problem.rfind(SUB_ANSWER_REQUEST)
    if end < 0:
        return []
    body = problem[len(SUB_ANSWER_PREAMBLE) : end]
    starts = list(_hit_start().finditer(body))
    passages = []
    for this, following in zip(starts, [*starts[1:], None], strict=True):
        stop = following.start() if following is not None else len(body)
        text = body[this.end() : stop]
        if following is None and text.endswith("\n"):  # the last hit's own line end
            text = text[:-1]
        passages.append(RetrievedPassage(this.group(1), int(this.group(2)), text))
    return passages

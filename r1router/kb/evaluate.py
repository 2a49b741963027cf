"""Retrieval recall@k of the gold evidence for every gold sub-question.

This measures the KBs alone, before any router is involved: if the gold
sub-question cannot find its evidence, no amount of routing will help. A hit
counts when its id is evidence, or when its passage is byte for byte a gold
passage (`content_id`): the released plans name the passages the paper's
retrievers returned, which a corpus built the paper's way holds under its own ids.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from r1router.benchmarks.loaders import question_image
from r1router.corpus.retrieved import content_id
from r1router.kb.kinds import get_kind
from r1router.kb.retriever import Retrievers


def gold_step_queries(
    questions: list[Any], image_root: Path | None
) -> dict[str, list[tuple[str, Path | None, set[str]]]]:
    """Group gold steps by KB: (sub-question, the question's image or None, evidence ids).

    The image is found by the resolver the router loop uses; whether a query
    carries it is the KB kind's call, made at search time.
    """
    grouped: dict[str, list[tuple[str, Path | None, set[str]]]] = defaultdict(list)
    for question in questions:
        image = question_image(question, image_root)
        for step in question.gold_plan or []:
            grouped[step.kb].append((step.sub_question, image, set(step.evidence)))
    return grouped


def retrieval_recall(
    retrievers: Retrievers, questions: list[Any], image_root: Path | None, k: int = 5, batch_size: int = 64
) -> dict[str, Any]:
    """Return `{"recall@k": {kb: fraction}, "queries": {kb: count}}` over the KBs that are loaded."""
    recall: dict[str, float] = {}
    counts: dict[str, int] = {}
    for kb, steps in sorted(gold_step_queries(questions, image_root).items()):
        if kb not in retrievers.kbs:
            continue
        found = 0
        for start in range(0, len(steps), batch_size):
            batch = steps[start : start + batch_size]
            images = get_kind(kb).query_images([image for _, image, _ in batch])
            hits = retrievers.search(kb, [query for query, _, _ in batch], images, k=k)
            tag = get_kind(kb).tag
            found += sum(
                bool(evidence & {ident for hit in row for ident in (hit.id, content_id(tag, hit.text))})
                for (_, _, evidence), row in zip(batch, hits, strict=True)
            )
        recall[kb] = round(found / len(steps), 4)
        counts[kb] = len(steps)
    return {f"recall@{k}": recall, "queries": counts}

"""The `release` profile's questions: the released trajectories' origin questions, golds and gold plans.

Each question becomes a benchmark record in the demo benchmarks' shape (the
paper's fields plus `question_id` and `gold_plan`), so the gold-plan teacher,
the filter, SFT, Step-GRPO and every evaluation method read it unchanged:

- its gold plan is its released retrieval steps (sub-question, KB, sub-answer),
  with the ids of the passages each step retrieved as evidence, the same ids
  the `release` corpus gives them;
- its benchmark is what its plan retrieves: `release_visual` when it came with
  an image, else `release_table` when any step asks the Table Retriever, else
  `release_text` (in the paper's released file these are InfoSeek,
  Open-WikiTable and 2WikiMQA questions);
- its split is decided by a salted hash of the question text alone, per
  benchmark: the `test_fraction` of each benchmark whose hashes sort first
  (at least one) is test, the rest train. Two trajectories of the same
  question text always land together, so no test question is trained on.

The released images are paths on the authors' machines and are not part of
the release: visual questions are evaluated text-only and say so
(`image_missing`), never silently.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from r1router.corpus.release import passage_id
from r1router.corpus.released_trajectory import ReleasedQuestion, read_released_questions
from r1router.hashing import text_sha256
from r1router.io import write_json, write_jsonl

SPLITS = ("train", "test")


def benchmark_of(question: ReleasedQuestion) -> str:
    if question.images:
        return "release_visual"
    if any(step.kb == "table" for step in question.steps):
        return "release_table"
    return "release_text"


def question_record(question: ReleasedQuestion) -> dict[str, Any]:
    """One benchmark record; its id hashes the question with its images (the same text may ask of two images)."""
    key = "\n".join([question.question, *question.images])
    return {
        "question_id": f"release-{text_sha256(key)[:12]}",
        "question": question.question,
        "answer": list(question.golds),
        "gold_plan": [
            {
                "sub_question": step.sub_question,
                "kb": step.kb,
                "answer": step.answer,
                "evidence": list(dict.fromkeys(passage_id(p) for p in step.passages)),
            }
            for step in question.steps
        ],
        "released_images": list(question.images),
        "image_missing": bool(question.images),
        "source_line": question.line,
    }


def split_questions(
    records: list[dict[str, Any]], test_fraction: float, salt: str
) -> dict[str, list[dict[str, Any]]]:
    """Test = the `test_fraction` (at least one, unless 0) whose salted question hashes sort first; the rest train."""
    texts = sorted({r["question"] for r in records}, key=lambda text: text_sha256(f"{salt}:{text}"))
    wanted = max(1, round(test_fraction * len(texts))) if test_fraction > 0 and len(texts) > 1 else 0
    test_texts = set(texts[:wanted])
    return {
        "train": [r for r in records if r["question"] not in test_texts],
        "test": [r for r in records if r["question"] in test_texts],
    }


def write_release_questions(
    trajectories: Path, out_dir: Path, *, test_fraction: float, salt: str
) -> dict[str, Any]:
    """Write `questions/<benchmark>/{train,test}.jsonl` (a split only when it has questions); counts per benchmark."""
    by_benchmark: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for question in read_released_questions(trajectories):
        by_benchmark[benchmark_of(question)].append(question_record(question))
    counts: dict[str, Any] = {}
    for benchmark, records in sorted(by_benchmark.items()):
        splits = split_questions(records, test_fraction, salt)
        for split, rows in splits.items():
            if rows:
                write_jsonl(out_dir / "questions" / benchmark / f"{split}.jsonl", rows)
        counts[benchmark] = {
            **{split: len(rows) for split, rows in splits.items()},
            "image_missing": sum(r["image_missing"] for r in records),
            "retrieval_steps": sum(len(r["gold_plan"]) for r in records),
        }
    return counts


def build_release_world(trajectories: Path, out_dir: Path, *, test_fraction: float, salt: str) -> dict[str, Any]:
    """The release profile's world: its questions, an empty `images/` (none are released) and `release.json`."""
    out_dir = Path(out_dir)
    counts = write_release_questions(trajectories, out_dir, test_fraction=test_fraction, salt=salt)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    summary = {"source": str(trajectories), "test_fraction": test_fraction, "salt": salt, "benchmarks": counts}
    write_json(out_dir / "release.json", summary)
    return counts

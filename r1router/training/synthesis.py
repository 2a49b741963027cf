"""Trajectory synthesis: run a teacher over the train split and keep everything each step saw and did.

A record holds every prompt-relevant field (sub-question, KB, the hits with
their text, sub-answer, final answer) plus the golds and the gold plan, so the
filter can judge it and rebuild every step row's `problem` byte for byte
without the KBs or the model.

The work is done in chunks of questions, each written atomically under
`<cache_dir>/<fingerprint>/`; the fingerprint covers the questions and every
setting the caller names (data and code versions, teacher, loop), so a killed
run resumes from its last finished chunk and a changed setting never reuses a
stale one. Chunks are fixed slices of the question list, so a resumed chunk
is generated in the same batches as an uninterrupted run would: the output is
byte-identical. Records carry no wall-clock fields for the same reason.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from r1router.benchmarks.loaders import load_benchmark, resolve_image
from r1router.benchmarks.registry import question_file, world_benchmarks
from r1router.benchmarks.schema import PlanStep, Question
from r1router.errors import ConfigError, DataError
from r1router.hashing import text_sha256
from r1router.io import atomic_path, iter_jsonl, write_jsonl
from r1router.kb.hit import Hit
from r1router.progress import Progress
from r1router.router.trajectory import Step, Trajectory
from r1router.training.steps import StepRow, trajectory_step_rows

log = logging.getLogger(__name__)

Run = Callable[[list[Question], Path | None], list[Trajectory]]  # a teacher's `RouterLoop.run`


@dataclass(frozen=True)
class Synthesized:
    """One synthesised trajectory with the question it answers (golds, gold plan) and its image path."""

    trajectory: Trajectory
    question: Question
    image: str | None  # the query image, relative to the image root

    def step_rows(self) -> list[StepRow]:
        return trajectory_step_rows(self.trajectory, self.question, self.image)

    def to_dict(self) -> dict[str, Any]:
        t, q = self.trajectory, self.question
        return {
            "qid": q.qid,
            "dataset": q.dataset,
            "question": q.question,
            "image_id": q.image_id,
            "image": self.image,
            "golds": q.golds,
            "gold_ranges": [list(r) for r in q.gold_ranges],
            "gold_plan": [asdict(s) for s in q.gold_plan] if q.gold_plan is not None else None,
            "teacher": t.method,
            "steps": [{**asdict(s), "hits": [h.to_dict() for h in s.hits]} for s in t.steps],
            "final_answer": t.final_answer,
            "format_errors": t.format_errors,
            "outputs": t.outputs,
        }


def synthesized_from_dict(record: dict[str, Any]) -> Synthesized:
    """The inverse of `Synthesized.to_dict`; raises KeyError/TypeError on a malformed record."""
    plan = record["gold_plan"]
    question = Question(
        qid=record["qid"],
        question=record["question"],
        golds=list(record["golds"]),
        dataset=record["dataset"],
        image_id=record["image_id"],
        gold_ranges=[(float(lo), float(hi)) for lo, hi in record["gold_ranges"]],
        gold_plan=[PlanStep(**step) for step in plan] if plan is not None else None,
    )
    steps = [Step(**{**step, "hits": [Hit(**hit) for hit in step["hits"]]}) for step in record["steps"]]
    trajectory = Trajectory(
        question.qid,
        question.dataset,
        question.question,
        question.image_id,
        record["teacher"],
        steps,
        final_answer=record["final_answer"],
        format_errors=record["format_errors"],
        outputs=record["outputs"],
    )
    return Synthesized(trajectory, question, record["image"])


def read_synthesized(path: str | Path) -> list[Synthesized]:
    """Every record of a trajectories file; a malformed one is a DataError naming its line and field."""
    path = Path(path)
    records = []
    for line, data in iter_jsonl(path):
        try:
            records.append(synthesized_from_dict(data))
        except KeyError as exc:
            raise DataError(path, "required field is missing", line=line, field=str(exc.args[0])) from None
        except (TypeError, ValueError) as exc:
            raise DataError(path, f"not a trajectory record ({exc})", line=line) from None
    return records


def select_questions(
    world_dir: Path, split: str, benchmarks: list[str] | None = None, per_benchmark: int | None = None
) -> list[Question]:
    """The first `per_benchmark` questions (file order) of each benchmark's split, validated, images checked."""
    world_dir = Path(world_dir)
    chosen = []
    for name in benchmarks or world_benchmarks(world_dir, split):
        questions = load_benchmark(question_file(world_dir, name, split), name, world_dir / "images")
        chosen += questions[:per_benchmark] if per_benchmark is not None else questions
    return chosen


def fingerprint(questions: list[Question], settings: dict[str, Any], chunk_size: int) -> str:
    """What a chunk's content depends on: the questions, the caller's settings, and how they are chunked."""
    described = {
        "questions": [asdict(q) for q in questions],
        "settings": settings,
        "chunk_size": chunk_size,
    }
    return text_sha256(json.dumps(described, sort_keys=True, ensure_ascii=False, default=str))


def _image(question: Question, image_root: Path | None) -> str | None:
    if question.image_id is None:
        return None
    if image_root is None:
        raise ConfigError(f"question {question.qid} has an image; synthesis needs the image root")
    return resolve_image(image_root, question.image_id).relative_to(image_root).as_posix()


def _finished_chunk(path: Path, questions: list[Question]) -> bool:
    """A chunk file is finished when it holds exactly its questions' records (it is written atomically)."""
    if not path.is_file():
        return False
    try:
        qids = [record["qid"] for _, record in iter_jsonl(path)]
    except (DataError, KeyError):
        qids = []
    if qids != [q.qid for q in questions]:
        log.warning("%s does not hold its chunk's questions; synthesising it again", path)
        return False
    return True


def synthesize(
    questions: list[Question],
    run: Run,
    out: Path,
    cache_dir: Path,
    settings: dict[str, Any],
    chunk_size: int,
    image_root: Path | None = None,
) -> dict[str, Any]:
    """Run the teacher over `questions` chunk by chunk (resuming finished chunks); write `out`; return stats."""
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    if not questions:
        raise ConfigError("no questions to synthesise from")
    key = fingerprint(questions, settings, chunk_size)
    chunk_dir = Path(cache_dir) / key[:16]
    chunks = [questions[i : i + chunk_size] for i in range(0, len(questions), chunk_size)]
    paths = [chunk_dir / f"chunk-{n:05d}.jsonl" for n in range(len(chunks))]
    resumed = 0
    with Progress(len(questions), "synthesize", unit="q") as progress:
        for n, (chunk, path) in enumerate(zip(chunks, paths, strict=True)):
            reused = _finished_chunk(path, chunk)
            if not reused:
                trajectories = run(chunk, image_root)
                records = (
                    Synthesized(t, q, _image(q, image_root)).to_dict() for t, q in zip(trajectories, chunk, strict=True)
                )
                write_jsonl(path, records)
            resumed += reused
            progress.update(len(chunk))
            log.info("chunk %d/%d %s; %s", n + 1, len(chunks), "resumed" if reused else "done", progress.status())
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        for path in paths:
            handle.write(path.read_bytes())
    for stale in Path(cache_dir).iterdir():  # chunks of other settings can never be reused by this fingerprint
        if stale.is_dir() and stale != chunk_dir:
            shutil.rmtree(stale)
    return {**synthesis_stats(read_synthesized(out)), "chunks": len(chunks), "resumed_chunks": resumed}


def synthesis_stats(records: list[Synthesized]) -> dict[str, Any]:
    """What the teacher did, per benchmark: questions, steps, retrievals, KB use, format errors."""
    stats: dict[str, Any] = {}
    for dataset in sorted({r.question.dataset for r in records}):
        mine = [r.trajectory for r in records if r.question.dataset == dataset]
        kbs = Counter(kb for t in mine for kb in t.route)
        stats[dataset] = {
            "questions": len(mine),
            "mean_retrievals": round(sum(t.retrievals for t in mine) / len(mine), 4),
            "stopped": sum(1 for t in mine if t.steps and t.steps[-1].kb is None),
            "kb_steps": dict(sorted(kbs.items())),
            "format_errors": sum(t.format_errors for t in mine),
            "outputs": sum(t.outputs for t in mine),
        }
    return {"questions": len(records), "by_benchmark": stats}

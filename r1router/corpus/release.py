"""The `release` corpus: the passages inside the paper's released trajectories, as the three KBs' corpora.

`ter` passages are the paper's Wikipedia windows and become text records as
they are; `tar` passages are parsed back into Open-WikiTable tables and go
through the Open-WikiTable record code (so their passage is re-linearised,
byte-identical to the released one); `tir` passages are M-BEIR text
candidates and go through the M-BEIR record code. A passage's id is a hash of
its tag and text, so the same passage retrieved by several steps is one
record, and a question's gold-plan evidence (`release_questions`) names the
same ids.

Units for resuming are trajectories (file lines); a record first seen in an
earlier trajectory is not written again, and on a resumed run the skipped
trajectories are still read to know which ids are already written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1router.corpus.mbeir import mbeir_record
from r1router.corpus.owt import parse_linearized_table, table_record
from r1router.corpus.released_trajectory import ReleasedQuestion, read_released_questions
from r1router.corpus.retrieved import RetrievedPassage, content_id
from r1router.corpus.shards import ShardWriter
from r1router.hashing import file_sha256
from r1router.kb.kinds import KINDS
from r1router.progress import Progress

CORPUS_KINDS = ("text", "table", "image")


def passage_id(passage: RetrievedPassage) -> str:
    """The record id of a released passage: its tag and a hash of its exact text."""
    return content_id(passage.tag, passage.text)


def _kind_of_tag(tag: str) -> str:
    return next(kind.name for kind in KINDS.values() if kind.tag == tag)


def passage_record(passage: RetrievedPassage) -> dict[str, Any]:
    """The corpus record of one released passage, through the record code of its real format."""
    record_id = passage_id(passage)
    kind = _kind_of_tag(passage.tag)
    if kind == "table":
        table = parse_linearized_table(passage.text)
        raw = {**table, "original_table_id": table.pop("table_id")}
        return table_record(raw, record_id)
    if kind == "image":
        return mbeir_record({"txt": passage.text, "img_path": None, "modality": "text", "did": record_id})
    return {"id": record_id, "text": passage.text}


def _question_records(question: ReleasedQuestion, seen: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The records this trajectory adds to each kind's corpus (the ones no earlier trajectory held)."""
    records: dict[str, list[dict[str, Any]]] = {kind: [] for kind in CORPUS_KINDS}
    for step in question.steps:
        for passage in step.passages:
            record_id = passage_id(passage)
            if record_id in seen:
                continue
            seen.add(record_id)
            records[_kind_of_tag(passage.tag)].append(passage_record(passage))
    return records


def build_release_corpus(trajectories: Path, out_dir: Path, *, shard_size: int = 50_000) -> dict[str, Any]:
    """Write `out_dir/{text,table,image}` from a released trajectory file; return each kind's manifest."""
    trajectories, out_dir = Path(trajectories), Path(out_dir)
    questions = read_released_questions(trajectories)  # validated whole before any shard is written
    settings = {"format": "release", "input_sha256": file_sha256(trajectories)}
    writers = {kind: ShardWriter(out_dir / kind, {**settings, "kind": kind}, shard_size) for kind in CORPUS_KINDS}
    seen: set[str] = set()
    with Progress(len(questions), "release corpus", unit="trajectory") as progress:
        for question in questions:
            records = _question_records(question, seen)
            for kind, writer in writers.items():
                if writer.skip(question.line):
                    continue
                writer.counts["in"] += sum(len(step.passages) for step in question.steps if step.kb == kind)
                writer.counts["kept"] += len(records[kind])
                writer.add_unit(question.line, records[kind])
            progress.update()
    for writer in writers.values():
        writer.counts["dropped.duplicate"] = writer.counts["in"] - writer.counts["kept"]
    return {kind: writer.finish({"kind": kind, "source": str(trajectories)}) for kind, writer in writers.items()}

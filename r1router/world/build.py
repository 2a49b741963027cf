"""`build_world`: the whole offline demo world, from one seed, byte-identical on every run.

Layout under `out_dir` (see docs/architecture.md): `entities.parquet`,
`kb/{text,table,image}.parquet`, `kb/images/<id>.png`, query images
`images/<image_id>.png` and `questions/<benchmark>/<split>.jsonl`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from r1router.io import write_jsonl, write_parquet
from r1router.world.entities import World, generate_world
from r1router.world.image_kb import build_image_kb, write_kb_images, write_query_images
from r1router.world.plan import Candidate, Context
from r1router.world.q_table import openwikitqa, tabfact
from r1router.world.q_text import twowiki
from r1router.world.q_visual import dyn_vqa, infoseek, webqa
from r1router.world.rng import sub_rng
from r1router.world.sizes import get_size
from r1router.world.splits import SPLITS, Mentions, assign_splits, held_out_entities
from r1router.world.table_kb import Table, build_tables
from r1router.world.text_kb import FactIndex, build_text_kb

log = logging.getLogger(__name__)

# Benchmark → (question id prefix, generator). The prefix also names the query images, so it is unique.
BENCHMARKS: dict[str, tuple[str, Callable[[Context], list[Candidate]]]] = {
    "demo_2wikimultihopqa": ("2wiki", twowiki),
    "demo_openwikitqa": ("owtqa", openwikitqa),
    "demo_tabfact": ("tabfact", tabfact),
    "demo_infoseek": ("infoseek", infoseek),
    "demo_dyn_vqa": ("dynvqa", dyn_vqa),
    "demo_webqa": ("webqa", webqa),
}
SCHEMAS = {
    "text": pa.schema([("id", pa.string()), ("title", pa.string()), ("text", pa.string())]),
    "table": pa.schema(
        [
            ("id", pa.string()),
            ("page_title", pa.string()),
            ("section_title", pa.string()),
            ("caption", pa.string()),
            ("header", pa.list_(pa.string())),
            ("rows", pa.list_(pa.list_(pa.string()))),
        ]
    ),
    "image": pa.schema([("id", pa.string()), ("image", pa.string()), ("caption", pa.string())]),
    "entities": pa.schema(
        [("id", pa.string()), ("type", pa.string()), ("name", pa.string()), ("attributes", pa.string())]
    ),
}


def _record(benchmark: str, candidate: Candidate, question_id: str, entity_split: str) -> dict:
    """The paper's fields for this benchmark plus `question_id`, `gold_plan` and `entity_split`."""
    record = {
        "question": candidate.question,
        "answer": candidate.answer,
        "question_id": question_id,
        "gold_plan": candidate.plan,
        "entity_split": entity_split,
    }
    if candidate.image_entity is not None:
        record["image_id"] = question_id
    if benchmark == "demo_infoseek":
        record["data_id"] = question_id
    record.update(candidate.extra)
    return record


def _entities_table(world: World) -> pa.Table:
    rows = [
        {"id": e.id, "type": e.type, "name": e.name, "attributes": json.dumps(e.attrs, sort_keys=True)}
        for e in sorted(world.entities.values(), key=lambda e: e.id)
    ]
    return pa.Table.from_pylist(rows, schema=SCHEMAS["entities"])


def _check_evidence(questions: dict[str, dict[str, list[dict]]], kb_ids: dict[str, set[str]]) -> None:
    """Every gold step must cite at least one record that exists in its KB; anything else is a generator bug."""
    for benchmark, splits in questions.items():
        for split, records in splits.items():
            for record in records:
                for step in record["gold_plan"]:
                    missing = [e for e in step["evidence"] if e not in kb_ids[step["kb"]]]
                    if not step["evidence"] or missing:
                        raise RuntimeError(
                            f"{benchmark}/{split} {record['question_id']}: step "
                            f"'{step['sub_question']}' cites missing {step['kb']} evidence {missing}"
                        )


def _draw_questions(
    world: World, facts: FactIndex, tables: list[Table], seed: int, target: int
) -> tuple[dict[str, dict[str, list[dict]]], list[tuple[str, str]]]:
    """Question records per benchmark and split, and the (query image id, entity) pairs they need."""
    held = held_out_entities(world, sub_rng(seed, "holdout"))
    mentions = Mentions(world)

    def is_unseen(candidate: Candidate) -> bool:
        return bool(mentions(candidate) & held)

    questions: dict[str, dict[str, list[dict]]] = {}
    image_requests: list[tuple[str, str]] = []
    for benchmark, (prefix, generate) in BENCHMARKS.items():
        candidates = generate(Context(world, facts, tables, sub_rng(seed, "questions", benchmark)))
        drawn = assign_splits(candidates, target, is_unseen, sub_rng(seed, "splits", benchmark))
        questions[benchmark] = {}
        for split in SPLITS:
            records = []
            for i, (candidate, entity_split) in enumerate(drawn[split]):
                question_id = f"{prefix}_{split}_{i:05d}"
                records.append(_record(benchmark, candidate, question_id, entity_split))
                if candidate.image_entity is not None:
                    image_requests.append((question_id, candidate.image_entity))
            questions[benchmark][split] = records
    return questions, sorted(image_requests)


def build_world(out_dir: Path, seed: int, size: str) -> dict:
    """Generate and write the world; return the record counts (also what metrics/world.json holds)."""
    out_dir = Path(out_dir)
    preset = get_size(size)
    world = generate_world(seed, preset)
    texts, facts = build_text_kb(world, sub_rng(seed, "text"))
    tables = build_tables(world)
    images = build_image_kb(world)
    questions, image_requests = _draw_questions(world, facts, tables, seed, preset.questions)
    kb_ids = {"text": {r["id"] for r in texts}, "table": {t.id for t in tables}, "image": {r["id"] for r in images}}
    _check_evidence(questions, kb_ids)

    write_parquet(out_dir / "entities.parquet", _entities_table(world))
    write_parquet(out_dir / "kb" / "text.parquet", pa.Table.from_pylist(texts, schema=SCHEMAS["text"]))
    write_parquet(
        out_dir / "kb" / "table.parquet", pa.Table.from_pylist([t.record() for t in tables], schema=SCHEMAS["table"])
    )
    write_parquet(out_dir / "kb" / "image.parquet", pa.Table.from_pylist(images, schema=SCHEMAS["image"]))
    write_kb_images(world, out_dir / "kb")
    query_images = write_query_images(world, image_requests, out_dir, seed)
    for benchmark, splits in questions.items():
        for split, records in splits.items():
            write_jsonl(out_dir / "questions" / benchmark / f"{split}.jsonl", records)
    counts = {
        "kb": {"text": len(texts), "table": len(tables), "image": len(images)},
        "benchmarks": {b: {split: len(records) for split, records in s.items()} for b, s in questions.items()},
        "entities": len(world.entities),
        "query_images": query_images,
    }
    log.info("world %s (seed %d): %s", size, seed, json.dumps(counts))
    return counts

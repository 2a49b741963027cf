"""The built world honours docs/architecture.md: files, KB records, question schemas, gold plans and splits."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from PIL import Image

from r1router.io import read_jsonl, read_parquet
from r1router.world.build import BENCHMARKS, build_world
from r1router.world.splits import SPLITS

COMMON = {"question": str, "question_id": str, "gold_plan": list, "entity_split": str}
FIELDS = {
    "demo_2wikimultihopqa": {"answer": str},
    "demo_openwikitqa": {"answer": str},
    "demo_tabfact": {"answer": str},
    "demo_dyn_vqa": {"answer": list, "image_id": str},
    "demo_webqa": {"answer": list, "image_id": str},
    "demo_infoseek": {"answer": list, "image_id": str, "data_id": str, "answer_eval": list},
}


def _questions(root: Path) -> dict[str, dict[str, list[dict]]]:
    return {b: {s: read_jsonl(root / "questions" / b / f"{s}.jsonl") for s in SPLITS} for b in BENCHMARKS}


def _kb(root: Path) -> dict[str, dict[str, dict]]:
    return {
        kind: {r["id"]: r for r in read_parquet(root / "kb" / f"{kind}.parquet").to_pylist()}
        for kind in ("text", "table", "image")
    }


def _record_text(kind: str, record: dict) -> str:
    if kind == "text":
        return f"{record['title']}\n{record['text']}"
    if kind == "table":
        return "\n".join(
            [
                record["page_title"],
                record["caption"],
                *record["header"],
                *(cell for row in record["rows"] for cell in row),
            ]
        )
    return record["caption"]


def _name_pattern(root: Path) -> re.Pattern:
    names = sorted(read_parquet(root / "entities.parquet").column("name").to_pylist(), key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(map(re.escape, names)) + r")(?!\w)")


def _plan_text(record: dict) -> str:
    answers = record["answer"] if isinstance(record["answer"], list) else [record["answer"]]
    return "\n".join(
        [record["question"], *answers, *(f"{s['sub_question']}\n{s['answer']}" for s in record["gold_plan"])]
    )


def test_layout_matches_the_counts(tiny_world) -> None:
    root, counts = tiny_world
    kb = _kb(root)
    assert counts["kb"] == {kind: len(records) for kind, records in kb.items()}
    questions = _questions(root)
    assert counts["benchmarks"] == {b: {s: len(r) for s, r in splits.items()} for b, splits in questions.items()}
    assert counts["entities"] == read_parquet(root / "entities.parquet").num_rows
    assert counts["query_images"] == len(list((root / "images").glob("*.png")))
    assert sorted(p.name for p in (root / "kb" / "images").iterdir()) == sorted(f"{i}.png" for i in kb["image"])
    for benchmark, splits in counts["benchmarks"].items():
        assert splits["train"] > splits["dev"] > 0 and splits["test"] > 0, benchmark


def test_kb_records_follow_the_contract(tiny_world) -> None:
    root, _ = tiny_world
    kb = _kb(root)
    for record in kb["text"].values():
        assert record["title"] and record["title"] in record["text"]
    for record in kb["table"].values():
        assert record["rows"] and all(len(row) == len(record["header"]) for row in record["rows"])
        assert all(isinstance(cell, str) for row in record["rows"] for cell in row)
        assert record["page_title"] and record["caption"] and record["section_title"]
    for record in kb["image"].values():
        assert record["image"] == f"images/{record['id']}.png"
        with Image.open(root / "kb" / record["image"]) as image:
            assert image.size == (128, 128)
        assert ": " in record["caption"]


def test_entities_are_unique_and_include_near_twins(tiny_world) -> None:
    root, _ = tiny_world
    rows = read_parquet(root / "entities.parquet").to_pylist()
    names = [row["name"] for row in rows]
    assert len({n.lower() for n in names}) == len(names)
    by_id = {row["id"]: row for row in rows}
    twins = [
        (row, by_id[json.loads(row["attributes"])["similar_to"]])
        for row in rows
        if "similar_to" in json.loads(row["attributes"])
    ]
    assert twins and all(a["type"] == b["type"] for a, b in twins)
    assert {row["type"] for row in rows} >= {"country", "city", "person", "film", "company", "landmark"}


def test_question_records_have_each_benchmark_schema(tiny_world) -> None:
    root, _ = tiny_world
    for benchmark, splits in _questions(root).items():
        for split, records in splits.items():
            for record in records:
                for field, kind in {**COMMON, **FIELDS[benchmark]}.items():
                    assert isinstance(record.get(field), kind), (benchmark, split, field, record)
                assert record["question_id"].endswith(f"{split}_{record['question_id'][-5:]}")
                assert record["entity_split"] in {"seen", "unseen"} and record["gold_plan"]
                for step in record["gold_plan"]:
                    assert set(step) == {"sub_question", "kb", "answer", "evidence"}
                    assert step["kb"] in {"text", "table", "image"} and step["answer"] and step["evidence"]
                if benchmark == "demo_tabfact":
                    assert record["answer"] in {"yes", "no"}
                if benchmark == "demo_infoseek":
                    assert record["data_id"] == record["question_id"]
                    for value in record["answer_eval"]:
                        if not isinstance(value, str):
                            assert set(value) == {"wikidata", "range"}
                            assert value["range"][0] <= value["wikidata"] <= value["range"][1]


def test_evidence_exists_and_states_the_answer(tiny_world) -> None:
    root, _ = tiny_world
    kb = _kb(root)
    for benchmark, splits in _questions(root).items():
        for records in splits.values():
            for record in records:
                for step in record["gold_plan"]:
                    found = [kb[step["kb"]][e] for e in step["evidence"]]  # KeyError: a dangling evidence id
                    stated = any(step["answer"].lower() in _record_text(step["kb"], r).lower() for r in found)
                    counted = step["kb"] == "table" and step["sub_question"].startswith("How many")
                    assert stated or counted, (benchmark, step)


def test_sub_questions_are_atomic_and_name_their_subject(tiny_world) -> None:
    root, _ = tiny_world
    names = _name_pattern(root)
    for splits in _questions(root).values():
        for records in splits.values():
            for record in records:
                for i, step in enumerate(record["gold_plan"]):
                    identifies = "image" in step["sub_question"]
                    if identifies:  # only the first step of a question about its query image
                        assert i == 0 and "image_id" in record and names.fullmatch(step["answer"]), step
                    else:
                        assert " this " not in f" {step['sub_question']} " and names.search(step["sub_question"]), step


def test_splits_are_disjoint_and_unseen_entities_stay_in_test(tiny_world) -> None:
    root, _ = tiny_world
    names = _name_pattern(root)
    unseen_total = 0
    for benchmark, splits in _questions(root).items():
        ids = [r["question_id"] for records in splits.values() for r in records]
        assert len(ids) == len(set(ids)), benchmark
        asked = {s: {(r["question"], r["gold_plan"][0]["answer"]) for r in records} for s, records in splits.items()}
        assert not (asked["train"] & asked["dev"] or asked["train"] & asked["test"] or asked["dev"] & asked["test"])
        assert all(r["entity_split"] == "seen" for s in ("train", "dev") for r in splits[s])
        known = {n for s in ("train", "dev") for r in splits[s] for n in names.findall(_plan_text(r))}
        for record in splits["test"]:
            if record["entity_split"] == "unseen":
                unseen_total += 1
                assert set(names.findall(_plan_text(record))) - known, record
    assert unseen_total > 0


def test_query_images_are_perturbed_photos_of_the_entity(tiny_world) -> None:
    root, _ = tiny_world
    for splits in _questions(root).values():
        for records in splits.values():
            for record in records:
                if "image_id" not in record:
                    continue
                photo = root / "images" / f"{record['image_id']}.png"
                clean = root / "kb" / "images" / f"{record['gold_plan'][0]['evidence'][0]}.png"
                assert photo.is_file() and clean.is_file(), record
                assert photo.read_bytes() != clean.read_bytes()


def test_tabfact_answers_are_balanced(tiny_world) -> None:
    root, _ = tiny_world
    answers = [r["answer"] for records in _questions(root)["demo_tabfact"].values() for r in records]
    assert 0.35 <= answers.count("yes") / len(answers) <= 0.65


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tiny_world, tiny_seed, tmp_path) -> None:
    root, counts = tiny_world
    again = build_world(tmp_path / "again", seed=tiny_seed, size="tiny")
    assert again == counts
    first, second = _tree(root), _tree(tmp_path / "again")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    build_world(tmp_path / "other", seed=tiny_seed + 1, size="tiny")
    texts = [read_parquet(r / "kb" / "text.parquet").column("text").to_pylist() for r in (root, tmp_path / "other")]
    assert texts[0] != texts[1]


@pytest.mark.slow
def test_small_world_builds_quickly_with_full_benchmarks(tmp_path) -> None:
    start = time.monotonic()
    counts = build_world(tmp_path / "small", seed=13, size="small")
    assert time.monotonic() - start < 120
    for benchmark, splits in counts["benchmarks"].items():
        assert 150 <= sum(splits.values()) <= 250, (benchmark, splits)
        assert splits["train"] >= 2 * splits["test"], (benchmark, splits)

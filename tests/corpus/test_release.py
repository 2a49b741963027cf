"""The release profile's data: passages read back from sub-answer prompts, questions and gold plans, the corpus."""

from __future__ import annotations

import json

import pytest

from r1router.benchmarks.loaders import load_split
from r1router.corpus.release import build_release_corpus, passage_id
from r1router.corpus.release_questions import benchmark_of, build_release_world, split_questions
from r1router.corpus.released_trajectory import read_released_questions
from r1router.corpus.retrieved import retrieved_passages
from r1router.corpus.shards import iter_corpus
from r1router.errors import DataError
from r1router.kb.hit import Hit
from r1router.kb.kinds import get_kind
from r1router.kb.records import load_records
from r1router.router.prompts import decompose_problem, sub_answer_problem


def test_passages_read_back_from_our_own_sub_answer_prompt():
    hits = [
        Hit("text", "t1", 0.9, "Lure of the Swamp\n\nLure of the Swamp is a 1957 film."),
        Hit("text", "t2", 0.8, "Swamp stalker"),
        Hit("table", "b1", 0.7, "[Title]A[Section title]B[Caption]C[Table name]t[Header]x[Rows][Row]1"),
    ]
    for with_image in (False, True):
        problem = sub_answer_problem("who directed it?", hits, with_image=with_image)
        got = retrieved_passages(problem)
        assert [(p.tag, p.position, p.text) for p in got] == [
            ("ter", 0, hits[0].text),
            ("ter", 1, hits[1].text),
            ("tar", 0, hits[2].text),
        ]
    assert retrieved_passages(decompose_problem("q?", [])) == []


def test_released_questions_have_golds_plans_and_the_passages_each_step_saw(released_sample):
    questions = read_released_questions(released_sample)
    raw = [json.loads(line) for line in released_sample.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(questions) == len(raw)
    for question, record in zip(questions, raw, strict=True):
        steps = record["steps"]
        assert list(question.golds) == steps[-1]["answer"]
        rets = [s for s in steps if s["step_type"] == "ret" and s["answer"]["retriever"] != ["none"]]
        assert [s.sub_question for s in question.steps] == [r["answer"]["query"].strip() for r in rets]
        assert "<image>" not in question.question and question.question in steps[0]["problem"]
        assert all(step.passages for step in question.steps)
        assert {p.tag for step in question.steps for p in step.passages} <= {"ter", "tar", "tir"}


def test_a_trajectory_without_a_final_answer_is_refused_naming_its_line(released_sample, tmp_path):
    lines = released_sample.read_text(encoding="utf-8").splitlines()
    broken = json.loads(lines[1])
    broken["steps"] = broken["steps"][:-1]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], json.dumps(broken)]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2, field 'steps'"):
        read_released_questions(bad)


def test_split_keeps_same_text_questions_together_and_is_stable():
    records = [{"question": f"q{i % 7}", "n": i} for i in range(21)]
    splits = split_questions(records, 0.3, "salt")
    test_texts = {r["question"] for r in splits["test"]}
    assert len(test_texts) == 2 and not test_texts & {r["question"] for r in splits["train"]}
    assert split_questions(records, 0.3, "salt") == splits
    assert split_questions(records, 0.3, "other salt") != splits


def test_release_world_and_corpus_agree_on_evidence_ids(released_sample, tmp_path):
    counts = build_release_world(released_sample, tmp_path / "world", test_fraction=0.3, salt="s")
    manifests = build_release_corpus(released_sample, tmp_path / "corpus", shard_size=64)
    assert set(counts) == {"release_text", "release_table", "release_visual"}
    questions = load_split(tmp_path / "world", "train") + load_split(tmp_path / "world", "test")
    assert len(questions) == sum(c["train"] + c["test"] for c in counts.values()) == len(
        read_released_questions(released_sample)
    )
    ids = {kind: {r["id"] for _, _, r in iter_corpus(tmp_path / "corpus" / kind)} for kind in manifests}
    for question in questions:
        for step in question.gold_plan:
            assert step.evidence and set(step.evidence) <= ids[step.kb], (question.qid, step)
    # every corpus builds a KB as is, and each record reads as the passage it came from
    for kind in manifests:
        records = load_records(tmp_path / "corpus" / kind, get_kind(kind))
        assert len(records) == manifests[kind]["records"] == len(ids[kind])
        for record in records:
            assert passage_id_of(kind, get_kind(kind).passage(record)) == record["id"]


def passage_id_of(kind: str, text: str) -> str:
    from r1router.corpus.retrieved import RetrievedPassage

    return passage_id(RetrievedPassage(get_kind(kind).tag, 0, text))


def test_benchmark_groups_follow_the_gold_plan(released_sample):
    groups = {benchmark_of(q) for q in read_released_questions(released_sample)}
    assert groups == {"release_text", "release_table", "release_visual"}

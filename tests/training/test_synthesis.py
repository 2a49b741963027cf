"""Teachers and trajectory synthesis on a tiny generated world.

Retrieval is a lexical search over the world's own KB records (real ids and
passages, no encoders), and the answerer is a scripted double except in the
slow test, which runs the real SmolLM2: neither is what these tests are about.
"""

import json
import re

import pytest

from r1router.errors import ConfigError, DataError
from r1router.io import read_parquet
from r1router.kb.hit import Hit
from r1router.kb.kinds import KINDS as KB_KINDS
from r1router.kb.kinds import get_kind
from r1router.router.generation import RecoveryConfig
from r1router.router.generation_config import GenerationConfig
from r1router.router.loop import LoopConfig
from r1router.router.parsing import parse_answer, parse_decision
from r1router.training.filtering import FilterConfig, filter_trajectories
from r1router.training.steps import read_step_rows, write_step_rows
from r1router.training.synthesis import read_synthesized, select_questions, synthesize
from r1router.training.teachers import TeacherConfig, load_teacher_policy, make_teacher, teacher_config
from r1router.world.build import build_world

GOLD_PLAN = TeacherConfig("gold-plan", model_dir="models/policy")
LOOP = LoopConfig(max_steps=5, k=3)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world") / "tiny"
    build_world(out, seed=7, size="tiny")
    return out


def words(text):
    return set(re.findall(r"\w+", text.lower()))


class LexicalSearch:
    """Ranks a KB's records by word overlap with the query; records every call."""

    def __init__(self, world):
        self.records = {}
        for kb in KB_KINDS:
            kind = get_kind(kb)
            self.records[kb] = [
                (r["id"], kind.passage(r)) for r in read_parquet(world / "kb" / f"{kb}.parquet").to_pylist()
            ]
        self.calls = []

    def __call__(self, kb, queries, images, k):
        self.calls.append((kb, len(queries), images))
        ranked = []
        for query in queries:
            scored = sorted(self.records[kb], key=lambda r: (-len(words(query) & words(r[1])), r[0]))[:k]
            ranked.append([Hit(kb, rid, float(len(words(query) & words(text))), text) for rid, text in scored])
        return ranked


class PlanAnswerer:
    """Answers each sub-question with its gold plan answer and each final turn with the first gold."""

    multimodal = False

    def __init__(self, questions):
        self.sub = {s.sub_question: s.answer for q in questions for s in q.gold_plan}
        self.final = {q.question: q.golds[0] for q in questions}
        self.calls = []

    def generate(self, conversations, config):
        self.calls.append(len(conversations))
        texts = []
        for conversation in conversations:
            user = conversation[-1]["content"][0]["text"]
            if "final answer of the origin question: " in user:
                answer = self.final[user.rsplit("final answer of the origin question: ", 1)[1]]
            else:
                answer = self.sub[user.rsplit("to the Question: ", 1)[1]]
            texts.append(f"<think>read</think><answer>{answer}</answer>")
        return texts


def test_gold_plan_teacher_routes_by_the_plan_and_answers_for_real(world):
    questions = select_questions(world, "train", per_benchmark=2)
    assert len(questions) == 12
    search, answerer = LexicalSearch(world), PlanAnswerer(questions)
    teacher = make_teacher(GOLD_PLAN, answerer, search, LOOP)
    trajectories = teacher.run(questions, world / "images")
    for trajectory, question in zip(trajectories, questions, strict=True):
        assert trajectory.method == "teacher-gold-plan"
        assert trajectory.route == [step.kb for step in question.gold_plan] + ["none"]
        routed = trajectory.steps[:-1]
        assert [s.sub_question for s in routed] == [s.sub_question for s in question.gold_plan]
        assert [s.sub_answer for s in routed] == [s.answer for s in question.gold_plan]
        assert all(len(s.hits) == 3 for s in routed)
        assert trajectory.final_answer == question.golds[0]
        assert trajectory.format_errors == 0
    # the query image goes to the image KB only, and generation stays batched across questions
    assert all((images is not None) == (kb == "image") for kb, _, images in search.calls)
    assert answerer.calls[0] == 12 and len(answerer.calls) <= 5


def test_a_question_without_a_gold_plan_is_refused(world):
    [question] = select_questions(world, "train", ["demo_tabfact"], per_benchmark=1)
    bare = type(question)(question.qid, question.question, question.golds, question.dataset)
    teacher = make_teacher(GOLD_PLAN, PlanAnswerer([question]), LexicalSearch(world), LOOP)
    with pytest.raises(ConfigError, match="no gold plan"):
        teacher.run([bare])


def counting_run(teacher, calls, fail_on=None):
    def run(questions, image_root):
        calls.append([q.qid for q in questions])
        if fail_on is not None and len(calls) == fail_on:
            raise KeyboardInterrupt("killed")
        return teacher.run(questions, image_root)

    return run


def test_an_interrupted_run_resumes_from_its_last_chunk_with_identical_output(world, tmp_path):
    questions = select_questions(world, "train", per_benchmark=2)
    teacher = make_teacher(GOLD_PLAN, PlanAnswerer(questions), LexicalSearch(world), LOOP)
    settings = {"teacher": GOLD_PLAN.fingerprint(), "loop": "k3"}
    images = world / "images"

    whole, calls = tmp_path / "whole.jsonl", []
    stats = synthesize(questions, counting_run(teacher, calls), whole, tmp_path / "cache-a", settings, 5, images)
    assert len(calls) == 3 and stats["chunks"] == 3 and stats["resumed_chunks"] == 0

    out, cache, calls = tmp_path / "resumed.jsonl", tmp_path / "cache-b", []
    with pytest.raises(KeyboardInterrupt):
        synthesize(questions, counting_run(teacher, calls, fail_on=2), out, cache, settings, 5, images)
    assert not out.exists()
    [chunk_dir] = cache.iterdir()
    assert sorted(p.name for p in chunk_dir.iterdir()) == ["chunk-00000.jsonl"]
    calls.clear()
    stats = synthesize(questions, counting_run(teacher, calls), out, cache, settings, 5, images)
    assert calls == [[q.qid for q in questions[5:10]], [q.qid for q in questions[10:]]]
    assert stats["resumed_chunks"] == 1 and stats["questions"] == 12
    assert out.read_bytes() == whole.read_bytes()

    # other settings: a new fingerprint, nothing reused, the stale chunks pruned
    calls.clear()
    synthesize(questions, counting_run(teacher, calls), out, cache, {**settings, "loop": "k5"}, 5, images)
    assert len(calls) == 3
    assert [p.name for p in cache.iterdir()] != [chunk_dir.name] and len(list(cache.iterdir())) == 1


def test_records_hold_what_rebuilds_every_step_row(world, tmp_path):
    questions = select_questions(world, "train", ["demo_infoseek", "demo_2wikimultihopqa"], per_benchmark=1)
    teacher = make_teacher(GOLD_PLAN, PlanAnswerer(questions), LexicalSearch(world), LOOP)
    out = tmp_path / "t.jsonl"
    synthesize(questions, teacher.run, out, tmp_path / "cache", {}, 4, world / "images")
    records = read_synthesized(out)
    lines = out.read_text().splitlines()
    assert [json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False) for r in records] == lines
    assert "seconds" not in lines[0]
    infoseek = next(r for r in records if r.question.dataset == "demo_infoseek")
    assert infoseek.image == f"{infoseek.question.image_id}.png"
    assert infoseek.trajectory.steps[0].hits[0].text  # passages are kept: they are part of the ans prompt
    rows = [row for record in records for row in record.step_rows()]
    write_step_rows(tmp_path / "rows.jsonl", rows)
    assert read_step_rows(tmp_path / "rows.jsonl") == rows
    assert all(parse_decision(r.completion()).kb == r.gold_kb for r in rows if r.step_type == "ret")


def test_a_malformed_record_is_located(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"qid": "q1", "dataset": "demo_tabfact"}) + "\n")
    with pytest.raises(DataError, match="required field is missing") as caught:
        read_synthesized(path)
    assert caught.value.line == 1 and caught.value.field == "gold_plan"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "oracle"}, "unknown teacher"),
        ({"kind": "local"}, "needs model_dir"),
        ({"kind": "gold-plan", "model_dir": "m", "temperature": 0.3}, "unknown keys"),
        ({"kind": "openai", "endpoint": {"base_url": "localhost:8000", "model": "m"}}, "http"),
        ({"model_dir": "m"}, "'kind' is required"),
    ],
)
def test_bad_teacher_settings_fail_before_any_work(params, message):
    with pytest.raises(ConfigError, match=message):
        teacher_config(params)


def test_openai_teacher_config_builds_the_endpoint_client():
    config = teacher_config({"kind": "openai", "endpoint": {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}})
    policy = load_teacher_policy(config)
    assert policy.config.model == "m" and config.fingerprint()["endpoint"]["model"] == "m"


@pytest.mark.slow
def test_gold_plan_teacher_with_real_smollm2(world, smollm_dir, tmp_path):
    """The real answerer: trajectories are produced, filtered and turned into valid step rows."""
    questions = select_questions(world, "train", ["demo_2wikimultihopqa", "demo_infoseek"], per_benchmark=1)
    config = TeacherConfig("gold-plan", model_dir=str(smollm_dir), device="cpu")
    answer = GenerationConfig(max_new_tokens=24, batch_size=16)
    loop = LoopConfig(max_steps=5, k=2, answer=answer, recovery=RecoveryConfig(retries=0, corrective_turn=False))
    teacher = make_teacher(config, load_teacher_policy(config), LexicalSearch(world), loop)
    out = tmp_path / "t.jsonl"
    stats = synthesize(questions, teacher.run, out, tmp_path / "cache", {}, 2, world / "images")
    assert stats["questions"] == 2 and sum(b["stopped"] for b in stats["by_benchmark"].values()) == 2
    records = read_synthesized(out)
    assert all(r.trajectory.outputs > 0 for r in records)  # sub-answers and final answers were generated
    result = filter_trajectories(records, FilterConfig(min_f1_recall=0.0, heldout_fraction=0.0))
    assert result.report["kept"] + result.report["dropped"] == 2
    for row in result.train:
        if row.step_type == "ans" and not row.is_final:
            assert parse_answer(row.completion()).answer == row.answer.strip()

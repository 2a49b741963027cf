"""Step rows: the released file loads, our trajectories convert to the same schema, bad rows are located."""

import json
from collections import Counter

import pytest

from r1router.benchmarks.schema import PlanStep, Question
from r1router.errors import DataError
from r1router.kb.hit import Hit
from r1router.router.parsing import parse_answer, parse_decision
from r1router.router.prompts import (
    DECOMPOSE_SYSTEM_ZERO_SHOT,
    FINAL_ANSWER_SYSTEM,
    SUB_ANSWER_SYSTEM,
    decompose_messages,
    final_answer_messages,
    sub_answer_messages,
)
from r1router.router.trajectory import Step, Trajectory
from r1router.training.steps import (
    read_released_trajectories,
    read_step_rows,
    trajectory_step_rows,
    write_step_rows,
)


def test_released_sample_loads_with_the_right_counts(released_sample):
    trajectories = read_released_trajectories(released_sample)
    rows = [row for trajectory in trajectories for row in trajectory]
    assert len(trajectories) == 60 and len(rows) == 376
    assert Counter(row.step_type for row in rows) == {"ret": 173, "ans": 203}
    assert Counter(row.gold_kb for row in rows if row.step_type == "ret") == {
        "text": 86,
        "table": 39,
        "image": 18,
        None: 30,
    }
    assert sum(1 for t in trajectories if t[0].images) == 17
    assert all(t[-1].is_final and t[-1].system == FINAL_ANSWER_SYSTEM for t in trajectories)


def test_released_completions_parse_back_to_their_gold(released_sample):
    rows = [row for trajectory in read_released_trajectories(released_sample) for row in trajectory]
    empty = 0
    for row in rows:
        if row.step_type == "ret":
            decision = parse_decision(row.completion())
            assert decision.kb == row.gold_kb
            expected = None if row.gold_kb is None else row.answer["query"].strip()
            assert decision.sub_question == expected
        elif row.answer in ("", []):
            empty += 1  # the released file holds one empty sub-answer: it loads, but is no SFT target
        else:
            gold = row.answer[0] if row.is_final else row.answer
            assert parse_answer(row.completion()).answer == gold.strip()
    assert empty == 1


def test_image_rows_give_the_loops_messages(released_sample, tmp_path):
    row = next(r for t in read_released_trajectories(released_sample) for r in t if r.images and r.step_type == "ret")
    messages = row.messages(image_root=tmp_path)
    assert messages[0] == {"role": "system", "content": [{"type": "text", "text": row.system}]}
    text, image = messages[1]["content"]
    assert row.problem == text["text"] + "<image>"
    assert image == {"type": "image", "image": str(tmp_path / row.images[0])}


def test_rows_round_trip_through_jsonl(released_sample, tmp_path):
    rows = [row for trajectory in read_released_trajectories(released_sample) for row in trajectory]
    out = tmp_path / "steps.jsonl"
    assert write_step_rows(out, rows) == 376
    assert read_step_rows(out) == rows
    assert json.loads(out.read_text().splitlines()[0])["images"] == []


GOOD = {
    "step_type": "ret",
    "problem": "Origin question: Q?\n",
    "system": DECOMPOSE_SYSTEM_ZERO_SHOT,
    "answer": {"query": "who?", "retriever": ["text retriever"]},
    "images": [],
}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"step_type": "route"}, "step_type", "expected one of"),
        ({"problem": ""}, "problem", "must not be empty"),
        ({"system": None}, "system", "expected a string"),
        ({"answer": {"query": "who?", "retriever": ["web retriever"]}}, "answer.retriever", "unknown retriever"),
        ({"answer": {"query": "who?", "retriever": ["text retriever", "table retriever"]}}, "answer.retriever", "one"),
        ({"answer": {"query": "who?", "retriever": ["none"]}}, "answer.query", "disagree on stopping"),
        ({"answer": {"query": "who?"}}, "answer", "expected {"),
        ({"step_type": "ans", "answer": []}, "answer", "at least one gold"),
        ({"step_type": "ans", "answer": ["yes", 3]}, "answer[1]", "expected a string"),
        ({"images": "a.png"}, "images", "at most one image"),
        ({"images": ["a.png"]}, "problem", "must end with <image>"),
        ({"score": 1.0}, "score", "unknown field"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, change, field, message):
    path = tmp_path / "steps.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({**GOOD, **change}) + "\n")
    with pytest.raises(DataError, match=message) as caught:
        read_step_rows(path)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 3, field)


def test_missing_field_and_released_step_errors_are_located(tmp_path):
    path = tmp_path / "steps.jsonl"
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k != "answer"}) + "\n")
    with pytest.raises(DataError, match="required field is missing") as caught:
        read_step_rows(path)
    assert (caught.value.line, caught.value.field) == (1, "answer")
    released = tmp_path / "released.jsonl"
    bad_step = {**GOOD, "answer": {"query": "x", "retriever": ["web"]}}
    steps = [{k: v for k, v in step.items() if k != "images"} for step in (GOOD, bad_step)]
    released.write_text(json.dumps({"images": [], "steps": steps}) + "\n")
    with pytest.raises(DataError) as caught:
        read_released_trajectories(released)
    assert (caught.value.line, caught.value.field) == (1, "steps[1].answer.retriever")


def _trajectory(stopped: bool) -> tuple[Trajectory, Question]:
    question = Question(
        "q1",
        "Which year was this bridge opened?",
        ["1874"],
        "demo_infoseek",
        image_id="infoseek_train_00001",
        gold_plan=[PlanStep("Which bridge is shown?", "image", "Aldwick Bridge", ["img-1"])],
    )
    hits = [Hit("image", "img-1", 0.9, "a stone bridge"), Hit("text", "t-2", 0.5, "Aldwick Bridge opened in 1874.")]
    steps = [
        Step("Which bridge is shown in the image?", "image", hits=hits[:1], sub_answer="Aldwick Bridge"),
        Step("When was the Aldwick Bridge opened?", "text", hits=hits[1:], sub_answer="in 1874"),
    ]
    if stopped:
        steps.append(Step(None, None))
    return Trajectory("q1", "demo_infoseek", question.question, question.image_id, "gold-plan", steps), question


def test_our_trajectory_becomes_rows_whose_messages_are_the_loops():
    trajectory, question = _trajectory(stopped=True)
    rows = trajectory_step_rows(trajectory, question, image="infoseek_train_00001.png")
    assert [(r.step_type, r.system) for r in rows] == [
        ("ret", DECOMPOSE_SYSTEM_ZERO_SHOT),
        ("ans", SUB_ANSWER_SYSTEM),
        ("ret", DECOMPOSE_SYSTEM_ZERO_SHOT),
        ("ans", SUB_ANSWER_SYSTEM),
        ("ret", DECOMPOSE_SYSTEM_ZERO_SHOT),
        ("ans", FINAL_ANSWER_SYSTEM),
    ]
    assert [r.gold_kb for r in rows if r.step_type == "ret"] == ["image", "text", None]
    assert rows[0].answer == {"query": "Which bridge is shown in the image?", "retriever": ["text image retriever"]}
    assert rows[4].answer == {"query": "none", "retriever": ["none"]}
    assert rows[-1].answer == ["1874"] and rows[3].answer == "in 1874"
    assert all(r.images == ("infoseek_train_00001.png",) for r in rows)
    # Training shows the policy exactly the turns the router loop shows it at inference.
    image = "img/infoseek_train_00001.png"
    history = [("Which bridge is shown in the image?", "Aldwick Bridge")]
    assert rows[2].messages("img") == decompose_messages(question.question, history, image=image)
    step = trajectory.steps[1]
    assert rows[3].messages("img") == sub_answer_messages(step.sub_question, step.hits, image=image)
    full = [*history, (step.sub_question, "in 1874")]
    assert rows[5].messages("img") == final_answer_messages(question.question, full, image=image)


def test_a_trajectory_cut_by_max_steps_has_no_stop_row():
    trajectory, question = _trajectory(stopped=False)
    rows = trajectory_step_rows(trajectory, question, image="infoseek_train_00001.png")
    assert [r.step_type for r in rows] == ["ret", "ans", "ret", "ans", "ans"]
    with pytest.raises(ValueError, match="image_id"):
        trajectory_step_rows(trajectory, question)
    trajectory.steps[0].sub_answer = ""
    with pytest.raises(ValueError, match="no sub-answer"):
        trajectory_step_rows(trajectory, question, image="infoseek_train_00001.png")


def test_cli_converts_the_released_file(released_sample, tmp_path):
    from typer.testing import CliRunner

    from r1router.cli import app

    out = tmp_path / "steps.jsonl"
    result = CliRunner().invoke(app, ["steps", "convert", "--released", str(released_sample), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "376 step rows (173 ret, 203 ans) from 60 trajectories" in result.output
    assert len(read_step_rows(out)) == 376


def test_balancing_repeats_routing_rows_until_every_gold_kb_is_as_frequent_as_the_largest():
    from r1router.training.common import balance_by_gold_kb
    from r1router.training.steps import StepRow

    def ret(retriever: str, n: int) -> StepRow:
        return StepRow("ret", f"q{n}", "system", {"query": "sub", "retriever": [retriever]})

    rows = [ret("None", i) for i in range(4)] + [ret("Text Retriever", 10), ret("Table Retriever", 20)]
    answer = StepRow("ans", "qa", "system", "Paris")
    balanced = balance_by_gold_kb([*rows, answer])
    assert Counter(row.gold_kb for row in balanced if row.step_type == "ret") == {None: 4, "text": 4, "table": 4}
    assert balanced[-1] is answer and balanced[:3] == [rows[5], rows[4], rows[0]]  # table, text, stop, interleaved
    stops = [row.problem for row in balanced if row.step_type == "ret" and row.gold_kb is None]
    assert stops == ["q0", "q1", "q2", "q3"]  # order kept within a group
    assert balance_by_gold_kb([answer]) == [answer]

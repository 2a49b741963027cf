"""The filter: every drop reason, threshold counts, the held-out split, and the step rows it writes."""

import pytest

from r1router.benchmarks.schema import PlanStep, Question
from r1router.errors import ConfigError
from r1router.kb.hit import Hit
from r1router.router.trajectory import Step, Trajectory
from r1router.training.filtering import (
    HELDOUT_FILE,
    REASONS,
    TRAIN_FILE,
    FilterConfig,
    failed_checks,
    filter_trajectories,
    is_heldout,
    write_step_dir,
)
from r1router.training.steps import read_step_rows
from r1router.training.synthesis import Synthesized

PLAN = [("text", ["t1", "t2"]), ("table", ["tab1"])]


def record(qid, steps=(("text", "t1", "Mara"), ("table", "tab1", "1961")), final="4 May 1961", dataset="demo_2wiki"):
    """A trajectory over `steps` = (kb, hit id, sub-answer), stopped, answering `final`; the gold is 4 May 1961."""
    plan = [PlanStep(f"sub-question {i}?", kb, "a", evidence) for i, (kb, evidence) in enumerate(PLAN)]
    question = Question(qid, f"Question {qid}?", ["4 May 1961"], dataset, gold_plan=plan)
    taken = [
        Step(f"sub-question {i}?", kb, hits=[Hit(kb, hit, 1.0, f"passage {hit}")], sub_answer=answer)
        for i, (kb, hit, answer) in enumerate(steps)
    ]
    trajectory = Trajectory(qid, dataset, question.question, None, "teacher-gold-plan", [*taken, Step(None, None)])
    trajectory.final_answer = final
    return Synthesized(trajectory, question, None)


EVIDENCE = FilterConfig(min_f1_recall=1.0, require_evidence=True, heldout_fraction=0.0)


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({}, []),
        ({"steps": (("text", "t2", "Mara"), ("table", "tab1", "1961"))}, []),  # any evidence record will do
        ({"steps": (("text", "t1", "  "), ("table", "tab1", "1961"))}, ["empty_sub_answer"]),
        ({"steps": (("text", "t1", "Mara Ellison"),)}, ["off_plan"]),
        ({"steps": (("text", "t1", "Mara Ellison"), ("text", "tab1", "1961"))}, ["off_plan"]),
        ({"steps": (("text", "t9", "Mara Ellison"), ("table", "tab1", "1961"))}, ["evidence_missed"]),
        ({"final": "1962"}, ["answer_below_threshold"]),
        (
            {"steps": (("text", "t9", ""), ("table", "tab1", "1961")), "final": "no idea"},
            ["empty_sub_answer", "evidence_missed", "answer_below_threshold"],
        ),
    ],
)
def test_every_reason(changes, reasons):
    assert failed_checks(record("q", **changes), EVIDENCE) == reasons


def test_without_the_evidence_check_only_answers_and_sub_answers_count():
    config = FilterConfig(require_evidence=False)
    assert failed_checks(record("q", steps=(("image", "x", "it"),)), config) == []
    assert failed_checks(record("q", final="She was born on 4 May 1961."), config) == []  # F1-Recall: recall
    assert failed_checks(record("q", final="May 1961"), config) == ["answer_below_threshold"]
    assert failed_checks(record("q", final="May 1961"), FilterConfig(min_f1_recall=0.5)) == []


def test_counts_drops_by_first_reason_and_benchmark_and_reports_thresholds(tmp_path):
    records = [
        record("keep-1"),
        record("keep-2", dataset="demo_tabfact"),
        record("empty", steps=(("text", "t1", ""), ("table", "tab1", "1961")), final="1962"),
        record("missed", steps=(("text", "t9", "M"), ("table", "tab1", "1961")), dataset="demo_tabfact"),
        record("partial", final="May 1961"),
        record("wrong", final="no idea"),
    ]
    result = filter_trajectories(records, EVIDENCE)
    report = result.report
    assert (report["trajectories"], report["kept"], report["dropped"]) == (6, 2, 4)
    assert report["dropped_by_reason"] == {
        "empty_sub_answer": 1,
        "off_plan": 0,
        "evidence_missed": 1,
        "answer_below_threshold": 2,
    }
    assert report["failed_checks"]["answer_below_threshold"] == 3  # "empty" fails it too
    # "partial" (F1-Recall 2/3) passes at 0.5; at 0.0 every answer does, the other checks still apply
    assert report["pass_at_threshold"] == {"1.0": 2, "0.5": 3, "0.0": 4}
    assert report["by_benchmark"]["demo_tabfact"] == {
        "trajectories": 2,
        "kept": 1,
        "dropped_by_reason": {"evidence_missed": 1},
    }
    # each kept trajectory: 2 ret + 2 ans, the stop ret row, the final ans row
    assert report["rows"] == {"train": {"ans": 6, "ret": 6}, "heldout": {}}
    write_step_dir(result, tmp_path / "steps")
    assert read_step_rows(tmp_path / "steps" / TRAIN_FILE) == result.train
    assert (tmp_path / "steps" / HELDOUT_FILE).read_text() == ""
    assert set(REASONS) == set(report["dropped_by_reason"])


def test_heldout_split_is_by_question_and_stable():
    records = [record(f"q{i:03d}") for i in range(400)]
    config = FilterConfig(min_f1_recall=0.0, heldout_fraction=0.25)
    held = {r.question.qid for r in records if is_heldout(r, 0.25, config.heldout_salt)}
    assert 70 <= len(held) <= 130
    result = filter_trajectories(records, config)
    assert result.report["kept_heldout"] == len(held)
    assert len(result.heldout) == 6 * len(held) and len(result.train) == 6 * (400 - len(held))
    # membership depends on the question alone: the same ids are held out from any subset
    subset = filter_trajectories(records[:100], config)
    assert subset.report["kept_heldout"] == len([q for q in held if int(q[1:]) < 100])
    assert not is_heldout(records[0], 0.0, config.heldout_salt)


def test_the_evidence_check_needs_gold_plans():
    bare = record("q")
    bare = Synthesized(bare.trajectory, Question("q", "Q?", ["4 May 1961"], "2wikimultihopqa"), None)
    with pytest.raises(ConfigError, match="no gold plan"):
        filter_trajectories([bare], EVIDENCE)
    with pytest.raises(ConfigError, match="min_f1_recall"):
        FilterConfig(min_f1_recall=1.5)

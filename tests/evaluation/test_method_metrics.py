"""Routing accuracy, KB distribution and the per-method numbers of the evaluation table."""

import pytest

from r1router.benchmarks.schema import PlanStep, Question
from r1router.evaluation.method_metrics import (
    gold_route,
    kb_distribution,
    method_metrics,
    route_pairs,
    routing_accuracy,
    routing_confusion,
)
from r1router.router.trajectory import Step, Trajectory


def question(kbs, golds=("Oren Valcik",), ranges=()):
    plan = [PlanStep(f"q{i}", kb, "a", ["e"]) for i, kb in enumerate(kbs)]
    return Question("q", "Who?", list(golds), "demo_2wikimultihopqa", gold_ranges=list(ranges), gold_plan=plan)


def trajectory(route, answer="", seconds=2.0, errors=0, outputs=1):
    steps = [Step("sub" if kb else None, kb) for kb in route]
    return Trajectory("q", "d", "Who?", None, "m", steps, answer, errors, outputs, seconds)


def test_gold_route_includes_the_stop_only_when_the_loop_asks_for_it():
    assert gold_route(question(["text", "text"]), max_steps=3) == ["text", "text", "none"]
    assert gold_route(question(["image", "text", "table"]), max_steps=3) == ["image", "text", "table"]
    assert gold_route(question(["text"] * 4), max_steps=3) == ["text", "text", "text"]


@pytest.mark.parametrize(
    ("gold", "route", "expected"),
    [
        (["text", "text"], ["text", "text", None], 1.0),  # both KBs and the stop right
        (["text", "text"], ["text", "table", None], 2 / 3),  # one wrong KB
        (["text", "text"], ["text", None], 1 / 3),  # stopped a step early: step 2 and stop both wrong
        (["text"], ["text", "text", "text"], 0.5),  # never stopped (loop hit max_steps)
        (["image", "text", "table"], ["image", "text", "table"], 1.0),  # no stop to compare after step 3
    ],
)
def test_routing_accuracy_per_step_with_stop(gold, route, expected):
    pairs = route_pairs([question(gold)], [trajectory(route)], max_steps=3)
    assert routing_accuracy(pairs) == pytest.approx(expected, abs=1e-4)


def test_routing_confusion_says_where_each_gold_step_went():
    questions = [question(["table", "text"]), question(["table"]), question(["image"], golds=("x",))]
    trajectories = [trajectory(["text", None]), trajectory(["table", "text", "text"]), trajectory(["image", None])]
    confusion = routing_confusion(route_pairs(questions, trajectories, max_steps=3))
    assert confusion == {
        "image": {"image": 1},
        "none": {"none": 1, "not reached": 1, "text": 1},  # q1 stopped a step early; q2 never stopped
        "table": {"table": 1, "text": 1},
        "text": {"none": 1},
    }


def test_kb_distribution_counts_each_step():
    dist = kb_distribution([trajectory(["text", None]), trajectory(["image", "text", None])])
    assert dist == {"1": {"image": 1, "text": 1}, "2": {"none": 1, "text": 1}, "3": {"none": 1}}


def test_method_metrics_in_percent_with_rates():
    questions = [question(["text"]), question(["text"], golds=("Dorvik",))]
    trajectories = [
        trajectory(["text", None], answer="Oren Valcik", errors=1, outputs=4),
        trajectory(["table", None], answer="somewhere else", outputs=4),
    ]
    metrics = method_metrics(questions, trajectories, routes=True, max_steps=3)
    assert metrics["f1_recall"] == 50.0 and metrics["exact_match"] == 50.0
    assert metrics["f1_recall_per_question"] == [100.0, 0.0]  # what the paired comparisons resample
    assert metrics["f1_recall_ci95"] == [0.0, 100.0]  # two questions, one right: anything from none to both
    assert metrics["routing_accuracy"] == 0.75
    assert metrics["routing_confusion"] == {"none": {"none": 2}, "text": {"table": 1, "text": 1}}
    assert metrics["format_error_rate"] == 0.125
    assert metrics["questions_per_second"] == 1.0
    assert metrics["retrievals_per_question"] == 0.0  # no hits were recorded in these steps


def test_range_golds_score_against_the_range_alone():
    q = question(["image", "text"], golds=("6.5-7.0",), ranges=[(6.5, 7.0)])
    metrics = method_metrics([q], [trajectory([None], answer="6.8")], routes=False, max_steps=3)
    assert metrics["f1_recall"] == 100.0
    assert metrics["routing_accuracy"] is None


def test_guessable_questions_give_the_chance_level_and_the_rest_their_own_f1():
    from r1router.benchmarks.schema import Question
    from r1router.evaluation.method_metrics import guessable

    comparison = Question("a", "Who is younger, Mara Ellison or Ivo Brandt?", ["Ivo Brandt"], "demo_2wikimultihopqa")
    claim = Question("b", "Lake Dunmere is deeper than 40 metres.", ["yes"], "demo_tabfact")
    bridge = Question("c", "Where was the director of The Copper Lantern born?", ["Dorvik"], "demo_2wikimultihopqa")
    assert [guessable(q) for q in (comparison, claim, bridge)] == [True, True, False]
    answers = [trajectory([None], answer="Ivo Brandt"), trajectory([None], answer="no"), trajectory([None], "Dorvik")]
    metrics = method_metrics([comparison, claim, bridge], answers, routes=False, max_steps=3)
    assert metrics["guessable_share"] == 66.67 and metrics["chance_f1_recall"] == 33.33
    assert metrics["f1_recall_unguessable"] == 100.0  # the bridge question alone

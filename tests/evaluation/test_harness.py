"""The harness runs each method once over all benchmarks and splits the results back."""

import json

import pytest

from r1router.benchmarks.schema import PlanStep, Question
from r1router.errors import DataError
from r1router.evaluation.harness import evaluate_methods, load_questions
from r1router.router.trajectory import Step, Trajectory


class EchoMethod:
    """Answers every question with its first gold; records the batch it was given."""

    def __init__(self):
        self.batches = []

    def run(self, questions, image_root=None):
        self.batches.append([q.qid for q in questions])
        return [
            Trajectory(
                q.qid, q.dataset, q.question, None, "echo", [Step("s", "text"), Step(None, None)], q.golds[0], 0, 3, 2.0
            )
            for q in questions
        ]


def question(qid, dataset):
    return Question(qid, "?", [f"gold {qid}"], dataset, gold_plan=[PlanStep("s", "text", "a", ["e"])])


def test_one_run_per_method_split_by_benchmark(tmp_path):
    benchmarks = {"demo_a": [question("a1", "demo_a"), question("a2", "demo_a")], "demo_b": [question("b1", "demo_b")]}
    method = EchoMethod()
    results = evaluate_methods({"prompt-router": method}, benchmarks, None, tmp_path, max_steps=3)
    assert method.batches == [["a1", "a2", "b1"]]
    assert results["demo_a"]["prompt-router"]["questions"] == 2
    assert results["demo_b"]["prompt-router"]["f1_recall"] == 100.0
    assert results["demo_a"]["prompt-router"]["routing_accuracy"] == 1.0
    assert results["demo_a"]["prompt-router"]["questions_per_second"] == 1.5  # 3 questions in 2 s, whole run
    lines = (tmp_path / "demo_b" / "prompt-router.jsonl").read_text().splitlines()
    assert [json.loads(line)["qid"] for line in lines] == ["b1"]


def test_bad_question_file_fails_before_any_method_runs(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"question": "Q?", "answer": "A"}) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"question": "Q?", "answer": "A"}) + "\n" + json.dumps({"question": "Q?", "answer": 3}) + "\n"
    )
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2, field 'answer'"):
        load_questions({"openwikitqa": good, "tabfact": bad}, None)

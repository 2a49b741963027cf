"""The held-out routing check: the profile's decision settings, the row's image for a vision-language policy."""

from dataclasses import dataclass, field

from r1router.router.generation_config import GenerationConfig
from r1router.router.prompts import DECOMPOSE_SYSTEM_ZERO_SHOT, IMAGE_PLACEHOLDER, format_decision
from r1router.training.heldout import check_routing, load_heldout
from r1router.training.steps import StepRow, write_step_rows


class Model:
    """Just the train/eval switch a trainer's model has."""

    def __init__(self):
        self.training = True
        self.modes = []

    def eval(self):
        self.training = False
        self.modes.append("eval")

    def train(self, mode=True):
        self.training = mode
        self.modes.append("train" if mode else "eval")


@dataclass
class ScriptedPolicy:
    """An HF policy double: writes `decisions` in order and records what it was asked and in which mode."""

    decisions: list[str]
    multimodal: bool = False
    model: Model = field(default_factory=Model)
    calls: list = field(default_factory=list)

    def generate(self, conversations, config):
        self.calls.append((conversations, config, self.model.training))
        return self.decisions[: len(conversations)]


def ret_row(question, retriever, image=None):
    problem = f"Origin question: {question}\n" + (IMAGE_PLACEHOLDER if image else "")
    answer = {"query": question, "retriever": [retriever]}
    return StepRow("ret", problem, DECOMPOSE_SYSTEM_ZERO_SHOT, answer, (image,) if image else ())


ROWS = [
    ret_row("Who directed Lantern?", "Text Retriever"),
    ret_row("Which bridge is this?", "Text Image Retriever", "q.png"),
]
DECISION = GenerationConfig(max_new_tokens=96, batch_size=16, stop_strings=("</ret>",))  # the demo's decisions


def test_the_check_generates_with_the_decision_settings_in_eval_mode_then_restores_training(tmp_path):
    policy = ScriptedPolicy(
        [format_decision("t", "Who directed Lantern?", "text"), format_decision("t", "Which bridge?", "table")]
    )
    metrics = check_routing(policy, ROWS, DECISION, image_root=tmp_path)
    assert metrics == {"rows": 2, "format_rate": 1.0, "routing_accuracy": 0.5, "retrieval_rate": 1.0}
    [(conversations, config, training)] = policy.calls
    assert config is DECISION and training is False and policy.model.training is True
    user_parts = conversations[1][1]["content"]
    assert {"type": "image", "image": str(tmp_path / "q.png")} in user_parts  # the row's image reaches the policy


def test_no_rows_no_check_and_held_out_rows_are_capped(tmp_path):
    assert check_routing(ScriptedPolicy([]), [], DECISION) == {}
    path = tmp_path / "heldout.jsonl"
    write_step_rows(path, ROWS * 3)
    assert load_heldout(path, {"max_rows": 4}) == (ROWS * 3)[:4]
    assert load_heldout(path, None) == [] and load_heldout(None, {"max_rows": 4}) == []

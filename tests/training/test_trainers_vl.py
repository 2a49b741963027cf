"""The vision-language training path: SFT, then one Step-GRPO step, on the tiny random Qwen2.5-VL (`tiny_vl_dir`).

The paper trains Qwen2.5-VL; the demo trains a text-only model, so this is
where the vision-language path is exercised: rows with images reach trl
through the `images` column and the processor, LoRA is merged, and the saved
router (weights and processor) loads back as a vision-language policy, which
is what the Step-GRPO step starts from. The weights are random, so nothing is
said about what is learned; the held-out check runs on the rows' images too.
"""

import json

import pytest
from PIL import Image
from transformers import TrainerCallback

from r1router.router.backends import PolicySpec, load_policy
from r1router.router.generation_config import GenerationConfig
from r1router.router.policy_vl import VisionLanguagePolicy
from r1router.router.prompts import IMAGE_PLACEHOLDER
from r1router.training.common import TRAIN_MARKER
from r1router.training.grpo import train_grpo
from r1router.training.sft import train_sft
from r1router.training.steps import StepRow, write_step_rows

SYSTEM = "Decide which retriever answers the question about the image."
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
ONE_STEP = {"max_steps": 1, "logging_steps": 1, "save_steps": 100}
COMMON = {"seed": 0, "device": "cpu", "max_rows": None, "lora": LORA, "heldout": {"max_rows": 2}}
DECISION = GenerationConfig(max_new_tokens=4, batch_size=2)


class VisionTowerCalls(TrainerCallback):
    """Counts the vision tower's forward passes while training: the images must reach the model, not just the data."""

    def __init__(self):
        self.calls = 0

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        tower = next(m for m in model.modules() if type(m).__name__.endswith("VisionTransformerPretrainedModel"))
        tower.register_forward_hook(self.count)

    def count(self, *_):
        self.calls += 1


def image_row(step_type: str, question: str, answer, image: str) -> StepRow:
    return StepRow(step_type, question + IMAGE_PLACEHOLDER, SYSTEM, answer, (image,))


@pytest.fixture(scope="module")
def vl_steps(tmp_path_factory):
    """Two ret and two ans rows, each with its own small image under an image root."""
    root = tmp_path_factory.mktemp("vl-steps")
    for name, colour in (("red.png", (200, 30, 30)), ("blue.png", (20, 40, 220))):
        Image.new("RGB", (56, 84), colour).save(root / name)
    rows = [
        image_row(
            "ret",
            "Which company makes this car?",
            {"query": "who makes this car", "retriever": ["text image retriever"]},
            "red.png",
        ),
        image_row("ret", "What is this car called?", {"query": "none", "retriever": ["none"]}, "blue.png"),
        image_row("ans", "Which company makes this car?", "Volvo", "red.png"),
        image_row("ans", "What colour is this car?", ["blue"], "blue.png"),
    ]
    write_step_rows(root / "train.jsonl", rows)
    write_step_rows(root / "heldout.jsonl", rows[:2])
    return root


@pytest.mark.slow
def test_vision_language_sft_then_one_grpo_step(tiny_vl_dir, text_encoder_dir, vl_steps, tmp_path):
    sft_tower, grpo_tower = VisionTowerCalls(), VisionTowerCalls()
    train_file, settings = vl_steps / "train.jsonl", {**COMMON, "step_types": ["ret", "ans"]}
    run = {"heldout_file": vl_steps / "heldout.jsonl", "image_root": vl_steps, "decision": DECISION}
    sft_trainer = {"learning_rate": 1e-3, "per_device_train_batch_size": 2, **ONE_STEP}
    sft_settings = {**settings, "max_length": 512, "trainer": sft_trainer}
    sft = train_sft(
        train_file, tiny_vl_dir, tmp_path / "sft", tmp_path / "sft-ckpt", sft_settings, callbacks=[sft_tower], **run
    )
    assert sft["global_step"] == 1 and sft["rows"]["kept"] == 4 and sft["heldout"]["rows"] == 2
    assert [entry["step"] for entry in sft["log_history"] if "loss" in entry] == [1]
    assert sft_tower.calls > 0  # the images went through trl's collator and the processor into the model
    router = load_policy(PolicySpec(model=str(tmp_path / "sft"), device="cpu"))
    assert isinstance(router, VisionLanguagePolicy)  # the processor was saved beside the merged weights
    assert json.loads((tmp_path / "sft" / TRAIN_MARKER).read_text())["kind"] == "sft"

    grpo_trainer = {"per_device_train_batch_size": 4, "num_generations": 2, "max_completion_length": 8, **ONE_STEP}
    grpo_settings = {**settings, "max_prompt_length": 512, "trainer": grpo_trainer}
    grpo_dirs = (tmp_path / "sft", text_encoder_dir, tmp_path / "grpo", tmp_path / "grpo-ckpt")
    grpo = train_grpo(train_file, *grpo_dirs, grpo_settings, callbacks=[grpo_tower], **run)
    assert grpo["global_step"] == 1 and grpo["heldout"]["before"]["rows"] == 2
    [logged] = [entry for entry in grpo["log_history"] if "reward" in entry]
    assert "rewards/ret/mean" in logged and "rewards/ans/mean" in logged
    assert grpo_tower.calls > 0  # generation and the policy's forward pass saw the images
    assert isinstance(load_policy(PolicySpec(model=str(tmp_path / "grpo"), device="cpu")), VisionLanguagePolicy)

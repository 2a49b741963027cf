"""`tasks.training.training_task`: the one task shape of `sft` and `grpo`, checked with a stand-in trainer."""

from __future__ import annotations

from dataclasses import asdict

from r1router.router.generation_config import GenerationConfig
from tasks.caching import outputs_intact
from tasks.grpo import grpo_task
from tasks.sft import sft_task
from tasks.training import training_task


def test_the_task_passes_paths_settings_and_decision_to_its_trainer_and_stamps_the_router(tmp_path):
    calls = []

    def train(out_dir, settings, decision, **paths):
        (tmp_path / "router").mkdir()
        (tmp_path / "router" / "model.safetensors").write_text("weights")
        calls.append((out_dir, settings, decision, paths))
        return {"global_step": 1}

    decision = GenerationConfig(max_new_tokens=8, stop_strings=("</ret>",))
    inputs = {"train_file": "train.jsonl", "out_dir": str(tmp_path / "router")}
    task = training_task("stage", train)
    result = task.fn(inputs=inputs, settings={"seed": 0}, decision=asdict(decision), data="d", code="c")
    assert result == {"global_step": 1}
    assert calls == [(str(tmp_path / "router"), {"seed": 0}, decision, {"train_file": "train.jsonl"})]
    assert outputs_intact([tmp_path / "router"])  # stamped: a later run may reuse the cached result
    assert (task.name, sft_task.name, grpo_task.name) == ("stage", "sft", "grpo")

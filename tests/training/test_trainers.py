"""SFT and Step-GRPO trainers on the real SmolLM2: released rows train, interrupted runs resume, routers register.

The slow tests keep every size tiny (1-2 optimizer steps, a few short rows,
completions of a few tokens): they check that the pieces fit together with
the real model and trl, not that the policy learns (the demo profile shows that).
"""

import importlib.util
import json

import mlflow
import pandas as pd
import pytest
import torch
from transformers import TrainerCallback

from r1router.errors import ConfigError, DataError
from r1router.router.backends import PolicySpec, load_policy
from r1router.router.generation_config import GenerationConfig
from r1router.router.prompts import decompose_messages
from r1router.training.common import (
    TRAIN_MARKER,
    filter_by_length,
    input_hashes,
    load_rows,
    load_trainable,
    run_fingerprint,
    trainer_arguments,
)
from r1router.training.curves import curve_png, curve_rows
from r1router.training.grpo import grpo_examples, train_grpo
from r1router.training.registry import register_router
from r1router.training.sft import sft_examples, train_sft
from r1router.training.steps import read_released_trajectories, write_step_rows

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
# What both stages' test settings share: CPU, LoRA, one optimizer step, a two-row held-out check.
COMMON = {"seed": 0, "device": "cpu", "max_rows": None, "lora": LORA}
ONE_STEP = {"max_steps": 1, "logging_steps": 1, "save_steps": 100}
HELDOUT = {"max_rows": 2}
DECISION = GenerationConfig(max_new_tokens=8, batch_size=2)  # the held-out check's decisions, kept short


def sft_settings(**overrides):
    trainer = {"learning_rate": 1e-4, "per_device_train_batch_size": 2, "save_total_limit": 2, **ONE_STEP}
    settings = {**COMMON, "step_types": ["ret", "ans"], "max_length": 640, "trainer": trainer, "heldout": HELDOUT}
    return {**settings, **overrides}


def grpo_settings(**overrides):
    trainer = {
        "learning_rate": 1e-5,
        "per_device_train_batch_size": 4,  # 2 prompts x 2 generations
        "num_generations": 2,
        "max_completion_length": 12,
        "temperature": 1.0,
        "beta": 0.0,
        **ONE_STEP,
    }
    settings = {**COMMON, "step_types": ["ret"], "max_prompt_length": 600, "cost_weight": 0.0, "trainer": trainer}
    return {**settings, "heldout": HELDOUT, **overrides}


@pytest.fixture(scope="module")
def released_rows(released_sample):
    return [row for trajectory in read_released_trajectories(released_sample) for row in trajectory]


@pytest.fixture(scope="module")
def step_files(released_rows, tmp_path_factory):
    """A small train file (short rows first, so a step is cheap) and a held-out file of other trajectories' rows."""
    root = tmp_path_factory.mktemp("steps")
    ret = [row for row in released_rows[:200] if row.step_type == "ret"][:4]
    final = [row for row in released_rows[:200] if row.is_final][:4]
    write_step_rows(root / "train.jsonl", ret + final)
    write_step_rows(root / "heldout.jsonl", [row for row in released_rows[300:] if row.step_type == "ret"][:4])
    return root / "train.jsonl", root / "heldout.jsonl"


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment("trainers-test")
    yield experiment
    mlflow.set_tracking_uri(None)


# --- fast: data and settings ----------------------------------------------------------------------------------------
def test_load_rows_reads_released_and_step_row_files(released_sample, released_rows, step_files):
    assert [r.step_type for r in load_rows(released_sample)] == [r.step_type for r in released_rows]
    assert {r.step_type for r in load_rows(released_sample, ["ret"])} == {"ret"}
    assert len(load_rows(step_files[0])) == 8
    with pytest.raises(ConfigError, match="unknown step type"):
        load_rows(step_files[0], ["plan"])
    with pytest.raises(DataError, match="no step rows of type"):
        load_rows(step_files[1], ["ans"])


def test_examples_are_conversational_prompt_completion_pairs(released_rows):
    ret = next(r for r in released_rows if r.step_type == "ret")
    [sft] = sft_examples([ret])
    assert [m["role"] for m in sft["prompt"]] == ["system", "user"]
    assert sft["prompt"][1]["content"] == ret.problem and sft["completion"][0]["role"] == "assistant"
    assert "<sub-question>" in sft["completion"][0]["content"]
    [grpo] = grpo_examples([ret])
    assert grpo["step_type"] == "ret" and json.loads(grpo["gold"]) == ret.answer


def test_rows_over_the_limit_are_counted_and_left_out():
    kept = filter_by_length([10, 50, 20, 51], 50, "test")
    assert kept.kept == [0, 1, 2] and kept.summary() == {"kept": 3, "too_long": 1, "limit": 50}
    with pytest.raises(ConfigError, match="every row is longer"):
        filter_by_length([60, 70], 50, "test")


def test_cpu_arguments_use_bf16_only_when_asked_and_never_gradient_checkpointing(tmp_path):
    settings = sft_settings(trainer={"learning_rate": 1e-4, "activation_checkpointing": True, "max_steps": 3})
    arguments = trainer_arguments(settings, tmp_path, "cpu")
    assert (arguments["bf16"], arguments["use_cpu"], arguments["activation_checkpointing"]) == (False, True, False)
    assert arguments["report_to"] == "none" and arguments["seed"] == 0 and arguments["max_steps"] == 3
    assert trainer_arguments(settings, tmp_path, "cuda")["activation_checkpointing"] is True
    # trl's configs turn checkpointing on by default; the argument must win over that default.
    from trl import GRPOConfig, SFTConfig

    # bf16 on CPU only when asked for: autocast on the CPU, which transformers accepts with use_cpu.
    bf16 = trainer_arguments({**settings, "precision": "bfloat16"}, tmp_path, "cpu")
    assert (bf16["bf16"], bf16["use_cpu"]) == (True, True)
    assert SFTConfig(**bf16).bf16 is True

    assert SFTConfig(**arguments).gradient_checkpointing is False
    assert GRPOConfig(**arguments, num_generations=2, per_device_train_batch_size=2).gradient_checkpointing is False


def test_fingerprint_follows_data_and_settings(step_files, smollm_dir, tmp_path):
    hashes = input_hashes([step_files[0]], smollm_dir)
    same = run_fingerprint(input_hashes([step_files[0]], smollm_dir), sft_settings())
    assert run_fingerprint(hashes, sft_settings()) == same
    assert run_fingerprint(hashes, sft_settings(max_length=512)) != same
    # The held-out check and the registry name do not change the weights: the same run, the same checkpoints.
    assert run_fingerprint(hashes, sft_settings(heldout=None, registry={"name": "other"})) == same
    other_data = tmp_path / "train.jsonl"
    other_data.write_text("\n".join(step_files[0].read_text().splitlines()[:-1]) + "\n")
    assert run_fingerprint(input_hashes([other_data], smollm_dir), sft_settings()) != same


def test_curve_rows_keep_logged_steps_and_draw_a_png(tmp_path):
    history = [
        {"loss": 0.9, "reward": 0.2, "reward/ret": 0.3, "step": 1},
        {"loss": 0.7, "reward": 0.4, "reward/ret": 0.5, "step": 2},
        {"train_runtime": 12.0, "train_loss": 0.8, "step": 2},  # the trainer's summary line is not a point
    ]
    rows = curve_rows(history, ["loss", "reward/ret", "kl"])
    assert rows == [{"step": 1, "loss": 0.9, "reward_ret": 0.3}, {"step": 2, "loss": 0.7, "reward_ret": 0.5}]
    png = curve_png(rows, {"reward": ["reward/ret"], "loss": ["loss", "kl"]}, tmp_path / "curve.png", "test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- slow: the real model ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sft_router(smollm_dir, step_files, tracking, tmp_path_factory):
    """One SFT step (LoRA) on released rows, inside an MLflow run."""
    root = tmp_path_factory.mktemp("sft")
    with mlflow.start_run(tags={"stage": "sft", "git_commit": "test-commit"}) as run:
        result = train_sft(
            step_files[0],
            smollm_dir,
            root / "router",
            root / "checkpoints",
            sft_settings(),
            step_files[1],
            decision=DECISION,
        )
    return root / "router", result, run.info.run_id


@pytest.mark.slow
def test_released_rows_train_one_sft_step(sft_router, smollm_dir):
    router_dir, result, run_id = sft_router
    assert result["global_step"] == 1 and result["resumed_from_step"] == 0
    assert result["rows"]["kept"] + result["rows"]["too_long"] == 8
    assert result["heldout"]["rows"] == 2 and 0.0 <= result["heldout"]["format_rate"] <= 1.0
    manifest = json.loads((router_dir / TRAIN_MARKER).read_text())
    assert manifest["kind"] == "sft" and manifest["base_model"] == str(smollm_dir)
    assert manifest["prompt_version"] and manifest["settings"]["lora"] == LORA
    assert not (router_dir / "adapter_config.json").exists()  # LoRA merged: a plain model directory
    # The LoRA step is merged into the saved weights, and the router loads and generates like any policy.
    router = load_policy(PolicySpec(model=str(router_dir), device="cpu"))
    weight = "model.layers.0.self_attn.q_proj.weight"
    base = load_trainable(smollm_dir, "cpu").model.state_dict()[weight]
    assert not torch.equal(router.model.state_dict()[weight], base)
    question = decompose_messages("Who directed Silver Orchard?", [])
    texts = router.generate([question], GenerationConfig(max_new_tokens=8, batch_size=1))
    assert len(texts) == 1 and isinstance(texts[0], str)
    # The trainer's log lines reached the MLflow run through the callback.
    assert result["mlflow_run_id"] == run_id
    assert [m.step for m in mlflow.MlflowClient().get_metric_history(run_id, "loss")] == [1]


@pytest.mark.slow
def test_released_rows_train_one_grpo_step(sft_router, text_encoder_dir, step_files, tmp_path):
    router_dir, _, _ = sft_router
    result = train_grpo(
        step_files[0],
        router_dir,
        text_encoder_dir,
        tmp_path / "router",
        tmp_path / "ckpt",
        grpo_settings(),
        step_files[1],
        decision=DECISION,
    )
    assert result["global_step"] == 1
    assert set(result["heldout"]) == {"before", "after"} and result["heldout"]["before"]["rows"] == 2
    [logged] = [entry for entry in result["log_history"] if "reward" in entry]
    # Only ret rows: the step's reward is the ret function's mean, and the ans function scored nothing.
    assert logged["rewards/ret/mean"] == pytest.approx(logged["reward"]) and logged["rewards/ans/mean"] is None
    assert "format_rate/ret" in logged and "routing_accuracy" in logged and "format_rate/ans" not in logged
    assert "completions/clipped_ratio" in logged and "frac_reward_zero_std" in logged
    manifest = json.loads((tmp_path / "router" / TRAIN_MARKER).read_text())
    assert manifest["kind"] == "step-grpo" and manifest["base_model"] == str(router_dir)


class StopAfterFirstCheckpoint(TrainerCallback):
    """Simulates a crash (kill, OOM) right after the first checkpoint is on disk."""

    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt("interrupted after the first checkpoint")


@pytest.mark.slow
def test_interrupted_sft_resumes_and_other_settings_start_fresh(smollm_dir, step_files, tracking, tmp_path):
    settings = sft_settings(step_types=["ans"], max_length=400, heldout=None)
    settings["trainer"] = {**settings["trainer"], "max_steps": 2, "save_steps": 1, "per_device_train_batch_size": 1}
    checkpoints = tmp_path / "checkpoints"
    arguments = (step_files[0], smollm_dir, tmp_path / "router", checkpoints, settings)
    with pytest.raises(KeyboardInterrupt):
        train_sft(*arguments, callbacks=[StopAfterFirstCheckpoint()])
    [run_dir] = checkpoints.iterdir()
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith("checkpoint-")) == ["checkpoint-1"]
    assert not (tmp_path / "router").exists()  # nothing half-saved

    with mlflow.start_run() as run:
        resumed = train_sft(*arguments)
    assert (resumed["resumed_from_step"], resumed["global_step"]) == (1, 2)
    assert [e["step"] for e in resumed["log_history"] if "loss" in e] == [1, 2]
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in history) == [1, 2]  # the restored step-1 line was replayed into this run
    assert json.loads((tmp_path / "router" / TRAIN_MARKER).read_text())["global_step"] == 2
    # Run again (the router directory lost, say): the finished checkpoint is loaded, no step is added.
    again = train_sft(*arguments)
    assert (again["resumed_from_step"], again["global_step"]) == (2, 2)
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith("checkpoint-")) == [
        "checkpoint-1",
        "checkpoint-2",
    ]

    fresh = train_sft(*arguments[:4], {**settings, "lora": None})  # other settings (full fine-tune): step 0
    assert (fresh["resumed_from_step"], fresh["global_step"]) == (0, 2)
    assert len(list(checkpoints.iterdir())) == 2


@pytest.mark.slow
def test_registered_router_carries_run_tags_and_predicts(sft_router, tracking):
    router_dir, _, _ = sft_router
    tags = {"git_commit": "abc123", "params_hash": "p0", "prefect_flow_run_id": "f0", "stage": "sft"}
    with mlflow.start_run(tags=tags) as run:
        registered = register_router(router_dir, "r1router-sft-test", run.info.run_id, DECISION)
    client = mlflow.MlflowClient()
    version = client.get_model_version(registered["name"], registered["version"])
    assert {k: version.tags[k] for k in tags} == tags and version.tags["run_id"] == run.info.run_id
    model = mlflow.pyfunc.load_model(registered["model_uri"])
    out = model.predict(pd.DataFrame({"question": ["Who directed the film Silver Orchard?"]}))
    assert list(out.columns) == ["raw", "well_formed", "sub_question", "kb", "retriever"] and len(out) == 1
    assert isinstance(out["raw"][0], str) and out["raw"][0]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_rollouts_without_vllm_are_refused_before_any_model_loads(tmp_path):
    settings = {"trainer": {"use_vllm": True, "vllm_mode": "server"}}
    missing = tmp_path / "no-such-model"  # would be a load error if anything were loaded first
    with pytest.raises(ConfigError, match=r"grpo\.trainer\.use_vllm: vllm is not installed"):
        train_grpo(missing / "rows.jsonl", missing, missing, tmp_path / "out", tmp_path / "ckpt", settings)

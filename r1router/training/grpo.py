"""Step-GRPO: trl's `GRPOTrainer` with one prompt per step row and the step rewards `ret` and `ans`.

Each step row (a routing decision or an answer) is one prompt, so each group
is the `num_generations` samples of one step and the advantage is relative
within that step, as in the paper's code, rather than across a whole
trajectory. The reward is two plain trl reward functions
(`rewards.step_rewards`), each scoring one step type and returning None for
the other; trl logs their means (`rewards/ret/mean`, `rewards/ans/mean`), and
their format rates and routing accuracy reach the log history through trl's
`log_metric`.

KL: `beta` defaults to 0.0. The released training code (an Easy-R1/verl fork)
adds its reward-level KL penalty only when a reference-policy worker is
configured and otherwise uses a fixed coefficient of 0; the released setup
effectively trained without a KL term. trl 1.16 also defaults to 0 and then
loads no reference model (half the memory, one forward pass less per step).

Generation speed on CPU (where a step is dominated by it and by the
forward/backward): the KV cache is on, gradient checkpointing is off (so
trl never toggles it around generation), and completions are bounded by
`max_completion_length`, which must stay large enough that routing decisions
are not cut (`completions/clipped_ratio` in the log; a cut decision scores 0
and pushes the policy toward short, stopping outputs).

Settings (`params.yaml`, section `grpo`): `seed`, `device`, `precision`, `step_types`,
`max_rows`, `max_prompt_length` (longer prompts are counted and left out),
`cost_weight`, `lora`, `trainer` (passed to `GRPOConfig` as is:
`num_generations`, `max_completion_length`, `temperature`, `beta`,
`loss_type`, batch sizes, steps, ...), `heldout`.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from r1router.device import resolve_device
from r1router.errors import ConfigError
from r1router.router.generation_config import GenerationConfig
from r1router.router.hf_generate import HFPolicy
from r1router.training.common import chat_length, prompt_messages, row_images
from r1router.training.rewards import Encode, RewardFunc, step_rewards
from r1router.training.steps import StepRow
from r1router.training.trainer import Recipe, build_trainer, train_stage


def grpo_examples(
    rows: Sequence[StepRow], multimodal: bool = False, image_root: Path | None = None
) -> list[dict[str, Any]]:
    """One prompt per step row; `step_type` and `gold` (JSON: dicts and lists share one column) reach the reward."""
    examples = []
    for row in rows:
        example: dict[str, Any] = {
            "prompt": prompt_messages(row),
            "step_type": row.step_type,
            "gold": json.dumps(row.answer, ensure_ascii=False),
        }
        if multimodal:
            example["images"] = row_images(row, image_root)
        examples.append(example)
    return examples


def grpo_length(tokenizer: Any, example: Mapping[str, Any]) -> int:
    """The prompt as generation starts from it: the completion is bounded by `max_completion_length` instead."""
    return chat_length(tokenizer, example["prompt"], add_generation_prompt=True)


def grpo_trainer(
    arguments: dict[str, Any], settings: Mapping[str, Any], rewards: Sequence[RewardFunc], **common: Any
) -> Any:
    """trl's `GRPOTrainer` with the reward functions; generation keeps the KV cache on (see the module docstring)."""
    from trl import GRPOConfig, GRPOTrainer

    generation_kwargs = {"use_cache": True, **arguments.pop("generation_kwargs", {})}
    config = GRPOConfig(**arguments, generation_kwargs=generation_kwargs, log_completions=False)
    return GRPOTrainer(args=config, reward_funcs=list(rewards), **common)


def grpo_recipe(rewards: Sequence[RewardFunc], heldout_encode: Encode | None = None) -> Recipe:
    """Step-GRPO as the shared skeleton runs it; held-out routing is compared before and after training."""
    return Recipe(
        name="grpo",
        kind="step-grpo",
        examples=grpo_examples,
        length=grpo_length,
        limit="max_prompt_length",
        trainer=partial(grpo_trainer, rewards=list(rewards)),
        heldout_encode=heldout_encode,
        compare_before=True,
    )


def build_grpo_trainer(
    rows: Sequence[StepRow],
    base_model: str | Path,
    rewards: Sequence[RewardFunc],
    checkpoint_dir: Path,
    settings: dict[str, Any],
    image_root: Path | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[Any, HFPolicy, dict[str, int]]:
    """A ready `GRPOTrainer` over `rows` (too-long prompts left out), the loaded policy, the row counts.

    `rewards` are trl reward functions (`rewards.step_rewards`). Shared with
    `scripts/profile_grpo_step.py`, so the profile is of the stage's own trainer.
    """
    return build_trainer(grpo_recipe(rewards), rows, base_model, checkpoint_dir, settings, image_root, callbacks)


def check_vllm_rollouts(trainer: Mapping[str, Any]) -> None:
    """Refuse `grpo.trainer.use_vllm` where vllm is not installed, before any model loads.

    trl generates the rollouts through vLLM then (`vllm_mode: server`, a `trl vllm-serve --model ...`
    running beside the trainer; or `colocate`), and would raise its ImportError only after the policy loaded.
    """
    if trainer.get("use_vllm") and importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "grpo.trainer.use_vllm: vllm is not installed here; install it on a CUDA machine (and start "
            "`trl vllm-serve --model <the SFT router>` for vllm_mode: server), or set use_vllm: false"
        )


def train_grpo(
    train_file: str | Path,
    base_model: str | Path,
    encoder: str | Path,
    out_dir: str | Path,
    checkpoint_root: str | Path,
    settings: dict[str, Any],
    heldout_file: str | Path | None = None,
    image_root: str | Path | None = None,
    callbacks: Sequence[Any] = (),
    decision: GenerationConfig | None = None,
) -> dict[str, Any]:
    """Step-GRPO from `base_model` (the SFT router) on `train_file`; save to `out_dir`; return metrics.

    `encoder` is the text KB's sentence encoder (the `ret` reward's similarity);
    its content is part of the checkpoint fingerprint. Held-out routing accuracy,
    format rate and reward are measured on the same rows before and after
    training, generating by `decision`. Resumes from
    `checkpoint_root/<fingerprint>` (`trainer.train_stage`).
    """
    from r1router.encoders.text import TextEncoder

    check_vllm_rollouts(settings.get("trainer") or {})
    encode = TextEncoder(encoder, device=resolve_device(settings.get("device", "auto"))).encode
    recipe = grpo_recipe(step_rewards(encode, settings.get("cost_weight", 0.0)), encode)
    files = (train_file, base_model, out_dir, checkpoint_root)
    return train_stage(
        recipe, *files, settings, heldout_file, image_root, callbacks, inputs=[encoder], decision=decision
    )

"""Step-GRPO: trl's `GRPOTrainer` with one prompt per step row and the `StepReward`.

Each step row (a routing decision or an answer) is one prompt, so each group
is the `num_generations` samples of one step and the advantage is relative
within that step, as in the paper's code, rather than across a whole
trajectory. The reward (`rewards.StepReward`) dispatches on the row's
`step_type`; its per-type means, format rates and routing accuracy reach the
trainer's log history through trl's `log_metric`.

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

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from r1router.device import resolve_device
from r1router.training.common import (
    LoadedPolicy,
    MetricsCallback,
    ProgressCallback,
    chat_length,
    filter_by_length,
    input_hashes,
    load_rows,
    load_trainable,
    lora_config,
    merged,
    prompt_messages,
    row_images,
    run_fingerprint,
    save_router,
    train_manifest,
    train_resumable,
    trainer_arguments,
)
from r1router.training.heldout import check_routing, load_heldout
from r1router.training.rewards import StepReward
from r1router.training.steps import StepRow

log = logging.getLogger(__name__)


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


def build_grpo_trainer(
    rows: Sequence[StepRow],
    base_model: str | Path,
    reward: StepReward,
    checkpoint_dir: Path,
    settings: dict[str, Any],
    image_root: Path | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[Any, LoadedPolicy, dict[str, int]]:
    """A ready `GRPOTrainer` over `rows` (too-long prompts left out), the loaded policy, the row counts.

    Shared with `scripts/profile_grpo_step.py`, so the profile is of the stage's own trainer.
    """
    from datasets import Dataset
    from transformers import set_seed
    from trl import GRPOConfig, GRPOTrainer

    device = resolve_device(settings.get("device", "auto"))
    set_seed(settings["seed"])
    policy = load_trainable(base_model, device, settings.get("precision", "auto"))
    examples = grpo_examples(rows, policy.multimodal, image_root)
    lengths = [chat_length(policy.tokenizer, e["prompt"], add_generation_prompt=True) for e in examples]
    kept = filter_by_length(lengths, settings["max_prompt_length"], "grpo")
    arguments = trainer_arguments(settings, checkpoint_dir, device)
    generation_kwargs = {"use_cache": True, **arguments.pop("generation_kwargs", {})}
    config = GRPOConfig(**arguments, generation_kwargs=generation_kwargs, log_completions=False)
    trainer = GRPOTrainer(
        model=policy.model,
        reward_funcs=[reward],
        args=config,
        train_dataset=Dataset.from_list([examples[i] for i in kept.kept]),
        processing_class=policy.processing_class,
        peft_config=lora_config(settings.get("lora")),
        callbacks=list(callbacks),
    )
    return trainer, policy, {"loaded": len(rows), **kept.summary()}


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
) -> dict[str, Any]:
    """Step-GRPO from `base_model` (the SFT router) on `train_file`; save to `out_dir`; return metrics.

    `encoder` is the text KB's sentence encoder (the `ret` reward's similarity).
    Held-out routing accuracy and format rate are measured on the same rows
    before and after training. Resumes from `checkpoint_root/<fingerprint>`.
    """
    device = resolve_device(settings.get("device", "auto"))
    rows = load_rows(train_file, settings["step_types"])[: settings.get("max_rows") or None]
    hashes = input_hashes([train_file, encoder], base_model)
    fingerprint = run_fingerprint(hashes, settings)
    checkpoint_dir = Path(checkpoint_root) / fingerprint
    reward = StepReward.from_encoder(encoder, device=device, cost_weight=settings.get("cost_weight", 0.0))
    metrics_callback = MetricsCallback()
    trainer, policy, counts = build_grpo_trainer(
        rows,
        base_model,
        reward,
        checkpoint_dir,
        settings,
        Path(image_root) if image_root else None,
        [metrics_callback, ProgressCallback("grpo"), *callbacks],
    )
    heldout_rows = load_heldout(heldout_file, settings.get("heldout"), policy.multimodal)
    before = check_routing(trainer.model, policy.tokenizer, heldout_rows, settings.get("heldout"), reward.encode)
    outcome = train_resumable(trainer, checkpoint_dir)
    model = merged(trainer.model)
    after = check_routing(model, policy.tokenizer, heldout_rows, settings.get("heldout"), reward.encode)
    result = {
        **outcome,
        "fingerprint": fingerprint,
        "rows": counts,
        "heldout": {"before": before, "after": after},
        "reward_totals": reward.totals(),  # this process's completions only (a resumed run starts them afresh)
    }
    save_router(
        model, policy.processing_class, out_dir, train_manifest("step-grpo", base_model, hashes, settings, **result)
    )
    log.info("grpo: %s", result)
    return {**result, "log_history": trainer.state.log_history, "mlflow_run_id": metrics_callback.run_id}

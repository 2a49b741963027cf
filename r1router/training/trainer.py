"""The one trainer skeleton SFT and Step-GRPO share; a stage only says what differs, as a `Recipe`.

`build_trainer` turns step rows into a ready trl trainer and `train_stage` runs
it end to end: hash the inputs, find the run's checkpoint directory, build,
check held-out routing, train (resuming), merge LoRA, check again, save the
router with its manifest. What a stage adds is small and named in its recipe:
its examples, how a row's length is measured and against which limit, its trl
config and trainer class (Step-GRPO: with the reward functions), and whether
the held-out check also runs before training.

The order of the steps that consume randomness is fixed here, once, for both
stages: `set_seed` comes right before the model is loaded, because LoRA's
initial weights come from the global generator, and the dataset keeps the
rows' file order; so a rerun with the same inputs trains the same weights.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1router.device import resolve_device
from r1router.router.generation_config import GenerationConfig
from r1router.router.hf_generate import HFPolicy
from r1router.training.common import (
    MetricsCallback,
    ProgressCallback,
    balance_by_gold_kb,
    filter_by_length,
    input_hashes,
    load_rows,
    load_trainable,
    lora_config,
    merged,
    run_fingerprint,
    save_router,
    train_manifest,
    train_resumable,
    trainer_arguments,
)
from r1router.training.heldout import check_routing, load_heldout
from r1router.training.rewards import Encode
from r1router.training.steps import StepRow

log = logging.getLogger(__name__)

# (rows, multimodal, image_root) -> trl dataset records, one per row, in row order
Examples = Callable[[Sequence[StepRow], bool, Path | None], list[dict[str, Any]]]


@dataclass(frozen=True)
class Recipe:
    """What makes a trainer SFT or Step-GRPO; everything else is the shared skeleton."""

    name: str  # the stage: log lines, progress, the length filter's warning
    kind: str  # the router manifest's `kind`
    examples: Examples
    length: Callable[[Any, Mapping[str, Any]], int]  # (tokenizer, example) -> tokens that must fit `limit`
    limit: str  # the settings key of that length limit
    # (trainer_arguments, settings, **model/data/peft/callback keywords) -> the trl trainer
    trainer: Callable[..., Any]
    heldout_encode: Encode | None = None  # the ret reward's encoder: the held-out check reports that reward too
    compare_before: bool = False  # check held-out routing before training too; the result holds before and after


def build_trainer(
    recipe: Recipe,
    rows: Sequence[StepRow],
    base_model: str | Path,
    checkpoint_dir: Path,
    settings: Mapping[str, Any],
    image_root: Path | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[Any, HFPolicy, dict[str, int]]:
    """A ready trl trainer over `rows` (rows over the length limit left out), the loaded policy, the row counts."""
    from datasets import Dataset
    from transformers import set_seed

    device = resolve_device(settings.get("device", "auto"))
    set_seed(settings["seed"])  # LoRA's initial weights come from the global generator
    policy = load_trainable(base_model, device, settings.get("precision", "auto"))
    examples = recipe.examples(rows, policy.multimodal, image_root)
    lengths = [recipe.length(policy.tokenizer, example) for example in examples]
    kept = filter_by_length(lengths, settings[recipe.limit], recipe.name)
    trainer = recipe.trainer(
        trainer_arguments(settings, checkpoint_dir, device),
        settings,
        model=policy.model,
        train_dataset=Dataset.from_list([examples[i] for i in kept.kept]),
        processing_class=policy.processing_class,
        peft_config=lora_config(settings.get("lora")),
        callbacks=list(callbacks),
    )
    return trainer, policy, {"loaded": len(rows), **kept.summary()}


def train_stage(
    recipe: Recipe,
    train_file: str | Path,
    base_model: str | Path,
    out_dir: str | Path,
    checkpoint_root: str | Path,
    settings: dict[str, Any],
    heldout_file: str | Path | None = None,
    image_root: str | Path | None = None,
    callbacks: Sequence[Any] = (),
    inputs: Sequence[str | Path] = (),
    decision: GenerationConfig | None = None,
) -> dict[str, Any]:
    """Train `base_model` on the step rows of `train_file` by `recipe`; save the router to `out_dir`; return metrics.

    `inputs` are further files the run depends on (Step-GRPO: the reward's
    encoder); their content joins the checkpoint fingerprint. `decision` is how
    the held-out check generates decisions (the profile's `router.loop.decision`;
    None: `GenerationConfig()`). Resumes from the last checkpoint under
    `checkpoint_root/<fingerprint>`. The result holds `log_history` (the
    trainer's log lines, for curves) and `mlflow_run_id` (the run those lines
    were already logged to, or None).
    """
    rows = load_rows(train_file, settings["step_types"])[: settings.get("max_rows") or None]
    if settings.get("balance_kbs"):
        rows = balance_by_gold_kb(rows)
    hashes = input_hashes([train_file, *inputs], base_model)
    fingerprint = run_fingerprint(hashes, settings)
    checkpoint_dir = Path(checkpoint_root) / fingerprint
    root = Path(image_root) if image_root else None
    metrics_callback = MetricsCallback()
    trainer, policy, counts = build_trainer(
        recipe,
        rows,
        base_model,
        checkpoint_dir,
        settings,
        root,
        [metrics_callback, ProgressCallback(recipe.name), *callbacks],
    )
    heldout_rows = load_heldout(heldout_file, settings.get("heldout"))

    def heldout(model: Any) -> dict[str, Any]:
        """The held-out routing check of `model`, the one place training runs it (before and after)."""
        config = decision or GenerationConfig()
        return check_routing(policy.with_model(model), heldout_rows, config, recipe.heldout_encode, root)

    before = heldout(trainer.model) if recipe.compare_before else None
    outcome = train_resumable(trainer, checkpoint_dir)
    model = merged(trainer.model)
    after = heldout(model)
    result = {
        **outcome,
        "fingerprint": fingerprint,
        "rows": counts,
        "heldout": {"before": before, "after": after} if recipe.compare_before else after,
    }
    manifest = train_manifest(recipe.kind, base_model, hashes, settings, **result)
    save_router(model, policy.processing_class, out_dir, manifest)
    log.info("%s: %s", recipe.name, result)
    return {**result, "log_history": trainer.state.log_history, "mlflow_run_id": metrics_callback.run_id}

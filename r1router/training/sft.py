"""SFT warm start: trl's `SFTTrainer` on step rows, loss on the completions only.

Each step row is one conversational prompt/completion pair: the row's
`[system, user]` chat and the well-formed output it should produce
(`StepRow.completion`). trl masks the prompt tokens out of the loss. Rows
longer than `max_length` are counted and left out, never truncated: a cut
completion would teach the policy to stop mid-tag.

Settings (`params.yaml`, section `sft`): `seed`, `device`, `precision`, `step_types`,
`max_rows`, `max_length`, `lora` (null = full fine-tune), `trainer` (passed to
`SFTConfig` as is: learning rate, batch size, steps, logging and save cadence),
`heldout` (greedy routing check after training).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from r1router.device import resolve_device
from r1router.training.common import (
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

log = logging.getLogger(__name__)


def sft_examples(rows: Sequence[Any], multimodal: bool = False, image_root: Path | None = None) -> list[dict[str, Any]]:
    """trl's conversational prompt/completion records (plus `images` for a vision-language policy)."""
    examples = []
    for row in rows:
        example: dict[str, Any] = {
            "prompt": prompt_messages(row),
            "completion": [{"role": "assistant", "content": row.completion()}],
        }
        if multimodal:
            example["images"] = row_images(row, image_root)
        examples.append(example)
    return examples


def train_sft(
    train_file: str | Path,
    base_model: str | Path,
    out_dir: str | Path,
    checkpoint_root: str | Path,
    settings: dict[str, Any],
    heldout_file: str | Path | None = None,
    image_root: str | Path | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Fine-tune `base_model` on the step rows of `train_file`; save the router to `out_dir`; return its metrics.

    Resumes from the last checkpoint under `checkpoint_root/<fingerprint>`.
    The result holds `log_history` (the trainer's log lines, for curves) and
    `mlflow_run_id` (the run those lines were already logged to, or None).
    """
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    device = resolve_device(settings.get("device", "auto"))
    rows = load_rows(train_file, settings["step_types"])[: settings.get("max_rows") or None]
    hashes = input_hashes([train_file], base_model)
    fingerprint = run_fingerprint(hashes, settings)
    checkpoint_dir = Path(checkpoint_root) / fingerprint
    set_seed(settings["seed"])  # LoRA's initial weights come from the global generator
    policy = load_trainable(base_model, device, settings.get("precision", "auto"))
    examples = sft_examples(rows, policy.multimodal, Path(image_root) if image_root else None)
    lengths = [chat_length(policy.tokenizer, e["prompt"] + e["completion"]) for e in examples]
    kept = filter_by_length(lengths, settings["max_length"], "sft")
    config = SFTConfig(
        **trainer_arguments(settings, checkpoint_dir, device),
        max_length=settings["max_length"],
        completion_only_loss=True,
        packing=False,
    )
    metrics_callback = MetricsCallback()
    trainer = SFTTrainer(
        model=policy.model,
        args=config,
        train_dataset=Dataset.from_list([examples[i] for i in kept.kept]),
        processing_class=policy.processing_class,
        peft_config=lora_config(settings.get("lora")),
        callbacks=[metrics_callback, ProgressCallback("sft"), *callbacks],
    )
    outcome = train_resumable(trainer, checkpoint_dir)
    model = merged(trainer.model)
    heldout_rows = load_heldout(heldout_file, settings.get("heldout"), policy.multimodal)
    heldout = check_routing(model, policy.tokenizer, heldout_rows, settings.get("heldout"))
    result = {
        **outcome,
        "fingerprint": fingerprint,
        "rows": {"loaded": len(rows), **kept.summary()},
        "heldout": heldout,
    }
    save_router(model, policy.processing_class, out_dir, train_manifest("sft", base_model, hashes, settings, **result))
    log.info("sft: %s", result)
    return {**result, "log_history": trainer.state.log_history, "mlflow_run_id": metrics_callback.run_id}

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

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from r1router.router.generation_config import GenerationConfig
from r1router.training.common import chat_length, prompt_messages, row_images
from r1router.training.trainer import Recipe, train_stage


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


def sft_length(tokenizer: Any, example: Mapping[str, Any]) -> int:
    """Prompt and completion together: SFT reads the whole chat, so all of it must fit `max_length`."""
    return chat_length(tokenizer, example["prompt"] + example["completion"])


def sft_trainer(arguments: dict[str, Any], settings: Mapping[str, Any], **common: Any) -> Any:
    """trl's `SFTTrainer`: loss on the completion tokens only, no packing (a row is one step, never cut)."""
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(**arguments, max_length=settings["max_length"], completion_only_loss=True, packing=False)
    return SFTTrainer(args=config, **common)


SFT = Recipe(name="sft", kind="sft", examples=sft_examples, length=sft_length, limit="max_length", trainer=sft_trainer)


def train_sft(
    train_file: str | Path,
    base_model: str | Path,
    out_dir: str | Path,
    checkpoint_root: str | Path,
    settings: dict[str, Any],
    heldout_file: str | Path | None = None,
    image_root: str | Path | None = None,
    callbacks: Sequence[Any] = (),
    decision: GenerationConfig | None = None,
) -> dict[str, Any]:
    """Fine-tune `base_model` on the step rows of `train_file`; save the router to `out_dir`; return its metrics.

    Held-out routing is checked after training, generating by `decision`.
    Resumes from the last checkpoint under `checkpoint_root/<fingerprint>`
    (`trainer.train_stage`).
    """
    files = (train_file, base_model, out_dir, checkpoint_root)
    return train_stage(SFT, *files, settings, heldout_file, image_root, callbacks, decision=decision)

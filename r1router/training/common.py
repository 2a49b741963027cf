"""What SFT and Step-GRPO share: step rows as trl datasets, trainer arguments, checkpoints, logging, saving.

A run's checkpoints live in `<checkpoint_root>/<fingerprint>`, where the
fingerprint hashes the training data, the base model's weights, the settings
and the prompt version. An interrupted run therefore finds its own last
checkpoint and resumes from it, while a run with any other data or setting
gets a fresh directory and starts from step 0; nothing decides this by
timestamps or flags.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from r1router.device import resolve_dtype
from r1router.errors import ConfigError, DataError
from r1router.hashing import text_sha256, tree_sha256
from r1router.io import atomic_dir, write_json
from r1router.io.jsonl import iter_jsonl
from r1router.progress import Progress
from r1router.router.backends import PolicySpec, load_hf_policy
from r1router.router.generation_config import flatten_text
from r1router.router.hf_generate import HFPolicy
from r1router.router.prompts import PROMPT_VERSION
from r1router.training.steps import StepRow, read_released_trajectories, read_step_rows

log = logging.getLogger(__name__)

TRAIN_MARKER = "r1router-train.json"  # a router directory with this file is a trained router (zero-shot prompts)


# --- data ------------------------------------------------------------------------------------------------------------
def load_rows(path: str | Path, step_types: Iterable[str] = ("ret", "ans")) -> list[StepRow]:
    """Step rows of the wanted types from our step-row JSONL or the paper's released trajectory file.

    The released file holds one `{"images", "steps"}` record per trajectory; its
    steps are flattened in file order so that users can train on it as is.
    """
    path = Path(path)
    first = next(iter_jsonl(path), (0, {}))[1]
    released = isinstance(first, dict) and "steps" in first
    rows = [row for t in read_released_trajectories(path) for row in t] if released else read_step_rows(path)
    wanted = set(step_types)
    unknown = wanted - {"ret", "ans"}
    if unknown:
        raise ConfigError(f"step_types: unknown step type(s) {sorted(unknown)} (use ret, ans)")
    kept = [row for row in rows if row.step_type in wanted]
    if not kept:
        raise DataError(path, f"no step rows of type {sorted(wanted)}")
    return kept


def balance_by_gold_kb(rows: Sequence[StepRow]) -> list[StepRow]:
    """Routing rows repeated so that each gold KB (and stop) has as many as the largest group; other rows kept.

    Step-GRPO samples a few prompts per step from the rows: with the demo's 121
    routing rows (45 stop, 35 text, 22 image, 19 table) eight steps of two
    prompts saw the table KB about twice, and the trained router never routed
    there. SFT on the same rows learned the majority retriever: the SFT router
    chose the text KB at every retrieval of the demo evaluation. Repeating the
    smaller groups makes every KB as likely a prompt (or target) as any other.
    Rows keep their order within a group; the groups are interleaved.
    """
    groups: dict[str | None, list[StepRow]] = {}
    others = [row for row in rows if row.step_type != "ret"]
    for row in rows:
        if row.step_type == "ret":
            groups.setdefault(row.gold_kb, []).append(row)
    if not groups:
        return list(rows)
    largest = max(len(group) for group in groups.values())
    ordered = sorted(groups, key=lambda kb: (kb is None, kb or ""))
    balanced = [groups[kb][i % len(groups[kb])] for i in range(largest) for kb in ordered]
    return balanced + others


def prompt_messages(row: StepRow) -> list[dict[str, Any]]:
    """The row's `[system, user]` chat with string contents, as trl's chat-template path expects.

    A text-only policy sees the text (the image part is dropped, as at inference);
    a vision-language one gets the image through the `images` column instead,
    which trl inserts into the first user turn.
    """
    return flatten_text(row.messages())


def row_images(row: StepRow, image_root: Path | None) -> list[Any]:
    """The row's images as PIL images, for a vision-language policy's `images` column."""
    from PIL import Image

    root = image_root or Path(".")
    images = []
    for name in row.images:
        path = Path(name) if Path(name).is_absolute() else root / name
        if not path.is_file():
            raise DataError(path, "step row image not found (set image_root)")
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


@dataclass(frozen=True)
class LengthFilter:
    """Rows kept and left out by length; a row is never truncated, because a cut target teaches a cut format."""

    kept: list[int]  # indices into the rows
    too_long: int
    limit: int

    def summary(self) -> dict[str, int]:
        return {"kept": len(self.kept), "too_long": self.too_long, "limit": self.limit}


def filter_by_length(lengths: list[int], limit: int, what: str) -> LengthFilter:
    """Keep rows of at most `limit` tokens; log how many were left out."""
    kept = [i for i, n in enumerate(lengths) if n <= limit]
    result = LengthFilter(kept, len(lengths) - len(kept), limit)
    if result.too_long:
        log.warning(
            "%s: %d of %d rows are longer than %d tokens and are left out", what, result.too_long, len(lengths), limit
        )
    if not kept:
        raise ConfigError(f"{what}: every row is longer than {limit} tokens; raise the length limit")
    return result


def chat_length(tokenizer: Any, messages: list[dict[str, Any]], add_generation_prompt: bool = False) -> int:
    """Tokens of a chat as trl tokenises it (the chat template applied, special tokens from the template)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


# --- model -----------------------------------------------------------------------------------------------------------
def load_trainable(model_dir: str | Path, device: str, precision: str = "auto") -> HFPolicy:
    """The policy to train, loaded as the router loads it: same backend choice, dtype and tokenizer settings.

    Training uses its `model`, its `processing_class` (what trl tokenises with
    and what is saved beside the weights) and its `tokenizer` (row lengths),
    so the trained router is the model the router then runs.
    """
    return load_hf_policy(PolicySpec(model=str(model_dir), device=device, precision=precision))


def lora_config(settings: Mapping[str, Any] | None) -> Any:
    """A peft `LoraConfig` from `{r, alpha, dropout, target_modules}`, or None (full fine-tune)."""
    if not settings:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=settings["r"],
        lora_alpha=settings["alpha"],
        lora_dropout=settings.get("dropout", 0.0),
        target_modules=settings.get("target_modules", "all-linear"),
        task_type="CAUSAL_LM",
    )


def trainer_arguments(settings: Mapping[str, Any], output_dir: Path, device: str) -> dict[str, Any]:
    """Arguments every trl config here gets: the `trainer` section plus device, precision, seeding, checkpointing.

    bf16 autocast exactly when the weights were loaded in bf16 (the settings'
    `precision`, `resolve_dtype`). Gradient checkpointing only on CUDA and only
    when asked: on CPU memory is not the limit and it costs a second forward
    pass (trl's configs default it to on).
    """
    trainer = dict(settings["trainer"])
    cuda = device.startswith("cuda")
    bf16 = resolve_dtype(settings.get("precision", "auto"), device, "precision") is torch.bfloat16
    checkpointing = bool(trainer.pop("activation_checkpointing", False)) and cuda
    return {
        **trainer,
        "output_dir": str(output_dir),
        "seed": settings["seed"],
        "data_seed": settings["seed"],
        "bf16": bf16,
        "use_cpu": not cuda,
        "activation_checkpointing": checkpointing,  # transformers 5's name; trl's configs default the old one on
        "report_to": "none",  # MetricsCallback logs into the stage's own MLflow run
        "save_strategy": "steps",
        "logging_strategy": "steps",
        "disable_tqdm": True,  # ProgressCallback writes rate and ETA lines instead
        "dataloader_num_workers": 0,
    }


# --- checkpoints -----------------------------------------------------------------------------------------------------
def input_hashes(data_files: Iterable[str | Path], base_model: str | Path) -> dict[str, Any]:
    """Content hashes of the training data files and the base model's directory (computed once per run)."""
    return {"data": {str(p): tree_sha256(p) for p in data_files}, "base_model": tree_sha256(base_model)}


# Settings that do not change the trained weights: the held-out check runs on the trained model, the registry
# only names where it is published. Left out of the fingerprint, so changing them does not restart training.
NOT_TRAINING = frozenset({"heldout", "registry"})


def run_fingerprint(hashes: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """Hash of what decides the trained weights: data content, base weights, settings, prompt version.

    Only the settings that decide the weights count (`NOT_TRAINING` is left out):
    a run that differs from a checkpointed one only in its held-out check or its
    registry name resumes from that checkpoint instead of training from step 0.
    """
    training = {key: value for key, value in settings.items() if key not in NOT_TRAINING}
    parts = {**hashes, "settings": training, "prompt_version": PROMPT_VERSION}
    return text_sha256(json.dumps(parts, sort_keys=True, default=str))[:16]


def resume_point(checkpoint_dir: Path) -> str | None:
    """The last `checkpoint-N` of this run's directory, or None to start fresh."""
    if not checkpoint_dir.is_dir():
        return None
    last = get_last_checkpoint(str(checkpoint_dir))
    if last is not None:
        log.info("resuming from %s", last)
    return last


def train_resumable(trainer: Any, checkpoint_dir: Path) -> dict[str, Any]:
    """Train from this run's last checkpoint (if any) to the end; return step counts and the mean train loss.

    A checkpoint that already reached the run's last step is loaded, not resumed:
    transformers resumes a finished run by training further batches of its
    epoch, so a re-run after the router directory was lost would drift.
    """
    from transformers.trainer_callback import TrainerState

    last = resume_point(checkpoint_dir)
    state = TrainerState.load_from_json(str(Path(last) / "trainer_state.json")) if last else None
    if state is not None and state.global_step >= state.max_steps:
        log.info("checkpoint %s is the finished run: loading it, training nothing", last)
        trainer._load_from_checkpoint(last)
        trainer.state = state
        losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
        train_loss = sum(losses) / len(losses) if losses else float("nan")
    else:
        train_loss = float(trainer.train(resume_from_checkpoint=last).training_loss)
    return {
        "global_step": trainer.state.global_step,
        "resumed_from_step": state.global_step if state is not None else 0,
        "train_loss": train_loss,
    }


# --- logging ---------------------------------------------------------------------------------------------------------
def numeric(logs: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items() if isinstance(v, int | float) and not isinstance(v, bool)}


class MetricsCallback(TrainerCallback):
    """Send every trainer log line to the MLflow run active when training starts (step = global step).

    `run_id` says which run got them (None: no active run, nothing logged), so a
    caller holding a result from an earlier run knows it must log the history
    itself. On a resumed run the restored log history is sent first, so the run
    that finishes training holds the whole curve.
    """

    def __init__(self) -> None:
        self.run_id: str | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import mlflow

        active = mlflow.active_run()
        self.run_id = active.info.run_id if active is not None else None
        for entry in state.log_history:
            self._log(entry, int(entry.get("step", 0)))

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._log(logs or {}, state.global_step)

    def _log(self, logs: Mapping[str, Any], step: int) -> None:
        metrics = numeric(logs)
        if self.run_id is not None and metrics:
            log_history_metrics(self.run_id, [{**metrics, "step": step}])


def log_history_metrics(run_id: str, history: Iterable[Mapping[str, Any]]) -> None:
    """Log trainer log-history entries to an MLflow run, each at its own `step`."""
    import mlflow

    for entry in history:
        metrics = {k.replace("@", "_at_"): v for k, v in numeric(entry).items() if k != "step"}
        if metrics:
            mlflow.log_metrics(metrics, step=int(entry.get("step", 0)), run_id=run_id)


class ProgressCallback(TrainerCallback):
    """Periodic log lines with optimizer steps done, rate and ETA (DVC and Prefect only see logs)."""

    def __init__(self, desc: str):
        self.desc = desc
        self._progress: Progress | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._progress = Progress(state.max_steps, self.desc, unit="step")
        self._progress.update(state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.update(1)


# --- saving ----------------------------------------------------------------------------------------------------------
def merged(model: Any) -> Any:
    """A peft model with its LoRA weights merged in (a plain model every loader reads); any other model as is."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def save_router(model: Any, processing_class: Any, out_dir: str | Path, manifest: Mapping[str, Any]) -> Path:
    """Write the trained router atomically: weights (LoRA merged in), tokenizer/processor, `r1router-train.json`.

    The marker file is what makes `r1router ask` and the evaluation use the
    zero-shot prompt the router was trained with.
    """
    model = merged(model)
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        processing_class.save_pretrained(tmp)
        write_json(tmp / TRAIN_MARKER, dict(manifest))
    return Path(out_dir)


def train_manifest(
    kind: str, base_model: str | Path, hashes: Mapping[str, Any], settings: Mapping[str, Any], **extra: Any
) -> dict[str, Any]:
    """What trained a router: base model and its hash, data hashes, settings, prompt version, plus run facts."""
    return {
        "kind": kind,
        "base_model": str(base_model),
        "base_model_sha256": hashes["base_model"],
        "data_sha256": hashes["data"],
        "settings": dict(settings),
        "prompt_version": PROMPT_VERSION,
        **extra,
    }

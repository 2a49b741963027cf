"""Train a small open_clip model from scratch on (image, caption) pairs, resumably.

The demo world has no pretrained CLIP to lean on (no hub, CPU only), so the
image KB's encoder is learned from the KB itself: a tiny ViT and a tiny text
transformer, open_clip's contrastive loss, plus a penalty that keeps texts
naming no entity unrelated to every image. The augmentations (clip_augment)
turn KB images into the kind of photos and KB captions into the kind of
sub-questions that queries bring.

Reads top to bottom: config, data, state on disk, loop. Every epoch's data
order and augmentations come from `(seed, epoch)` alone, so a run resumed from
a checkpoint ends with the same weights as one that was never interrupted.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image

from r1router.device import resolve_device
from r1router.encoders.clip_augment import TextNoise, augment_images, null_text_loss
from r1router.errors import ConfigError, DataError
from r1router.io import atomic_path, write_json, write_jsonl
from r1router.progress import Progress

log = logging.getLogger(__name__)

# A 64px ViT with 8px patches and a 3-layer text transformer: ~7M parameters, most of
# them the token embedding; trains in minutes on 2 CPU cores (open_clip JSON config format).
DEFAULT_MODEL: dict[str, Any] = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 64, "layers": 4, "width": 128, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 48, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 3},
}
CHECKPOINT = "checkpoint.pt"
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
LOG_FILE = "train_log.jsonl"
FORMAT = "r1router-clip-v1"


@dataclass
class ClipTrainConfig:
    """Everything that shapes the trained weights; `epochs`, `checkpoint_every` and `device` may change on resume."""

    model: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_MODEL))
    epochs: int = 200  # ~800 steps for 100 images: ~2.5 min on 2 CPU cores; time grows with images x epochs
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_epochs: float = 3.0
    seed: int = 0
    augment_strength: float = 1.0  # 1.0 matches the world's query perturbations
    word_dropout: float = 0.3  # drop caption words: questions name only part of an entity
    fragment_prob: float = 0.25  # train on a 1-4 word piece of the caption instead, so names alone find images
    noise_words: float = 1.5  # mean common words inserted per caption: questions wrap the entity in other words
    null_texts: int = 8  # texts of noise words only per batch, taught to match no image (see clip_augment)
    null_weight: float = 5.0
    checkpoint_every: int = 20
    device: str = "auto"

    def resume_key(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in {"epochs", "checkpoint_every", "device"}}


def build_model(model_cfg: dict[str, Any]) -> open_clip.CLIP:
    """An untrained open_clip CLIP from a JSON-style config (same keys as open_clip's model_configs)."""
    try:
        return open_clip.CLIP(**model_cfg)
    except TypeError as exc:
        raise ConfigError(f"bad open_clip model config {model_cfg!r}: {exc}") from None


def tokenizer_for(model_cfg: dict[str, Any]) -> open_clip.SimpleTokenizer:
    """open_clip's BPE tokenizer; its vocabulary ships inside the package, so this works offline."""
    return open_clip.SimpleTokenizer(context_length=model_cfg["text_cfg"]["context_length"])


# ---------------------------------------------------------------- data


def _load_pairs(pairs: list[tuple[Path, str]], base_size: int) -> tuple[torch.Tensor, list[list[str]], str]:
    """Decode each distinct image once and group its captions; return uint8 [N, 3, S, S], captions, data digest.

    Images go through the same resize/centre-crop as at encoding time (open_clip's
    eval transform), at `base_size`. Grouping matters: two rows of one image in a
    batch would be each other's false negatives under the contrastive loss.
    """
    if not pairs:
        raise DataError("<pairs>", "no (image, caption) pairs to train on")
    to_tensor = open_clip.image_transform(base_size, is_train=False, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    index: dict[str, int] = {}
    images: list[torch.Tensor] = []
    captions: list[list[str]] = []
    digest = hashlib.sha256()
    for path, caption in pairs:
        key = str(path)
        if key not in index:
            try:
                with Image.open(path) as handle:
                    image = handle.convert("RGB")
            except (OSError, ValueError) as exc:
                raise DataError(path, f"cannot read image ({exc})") from None
            tensor = (to_tensor(image) * 255).round().to(torch.uint8)
            index[key] = len(images)
            images.append(tensor)
            captions.append([])
            digest.update(tensor.numpy().tobytes())
        captions[index[key]].append(caption)
        digest.update(f"{index[key]}\t{caption}\n".encode())
    return torch.stack(images), captions, digest.hexdigest()


def _epoch_batches(n: int, batch_size: int, gen: torch.Generator) -> list[list[int]]:
    """A fresh permutation per epoch; a trailing batch of one (no negatives) is folded into the previous one."""
    order = torch.randperm(n, generator=gen).tolist()
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2:
        batches[-2].extend(batches.pop())
    return batches


# ---------------------------------------------------------------- state on disk


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay matrices only; gains, biases, embeddings' positions and the logit scale stay free (as open_clip does)."""
    decay, free = [], []
    for name, param in model.named_parameters():
        (free if param.ndim < 2 or "positional_embedding" in name or "logit_scale" in name else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": free, "weight_decay": 0.0}]


def _train_amp_dtype(device: str) -> torch.dtype | None:
    """bf16 where the GPU has it (no loss scaling needed), else fp16 with a GradScaler; full precision on CPU."""
    if not device.startswith("cuda"):
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _load_checkpoint(out_dir: Path, key: dict[str, Any], epochs: int) -> dict[str, Any] | None:
    path = out_dir / CHECKPOINT
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("resume_key") != key:
        log.warning("%s: checkpoint was made with another config or data; training from scratch", path)
        return None
    if state["epoch"] > epochs:
        log.warning(
            "%s: checkpoint is at epoch %d, past the %d asked for; training from scratch", path, state["epoch"], epochs
        )
        return None
    return state


def _save_torch(obj: Any, target: Path) -> None:
    """`torch.save` atomically, and byte for byte the same for the same tensors.

    Why the open file: given a path, torch names the archive's root folder after
    the file, here a random temporary name, so two saves of equal weights
    differed and gave the image KB a new DVC hash on every run.
    """
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def save_model(model: torch.nn.Module, model_cfg: dict[str, Any], train: dict[str, Any], out_dir: Path) -> None:
    """Weights, then the config that names them: a directory with `config.json` is a complete model."""
    _save_torch({k: v.detach().cpu() for k, v in model.state_dict().items()}, out_dir / MODEL_FILE)
    write_json(out_dir / CONFIG_FILE, {"format": FORMAT, "model": model_cfg, "train": train})


# ---------------------------------------------------------------- training


def train_clip(pairs: list[tuple[Path, str]], out_dir: Path, cfg: ClipTrainConfig) -> dict[str, Any]:
    """Train (or resume) and save `model.pt` + `config.json` in `out_dir`; return per-epoch losses and timings."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    image_size = int(cfg.model["vision_cfg"]["image_size"])
    images, captions, data_digest = _load_pairs(pairs, base_size=2 * image_size)  # 2x: antialiased augmentation
    key = {**cfg.resume_key(), "data": data_digest}

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    tokenizer = tokenizer_for(cfg.model)
    noise = TextNoise(
        list(tokenizer.encoder),
        [c for group in captions for c in group],
        cfg.word_dropout,
        cfg.fragment_prob,
        cfg.noise_words,
    )
    loss_fn = open_clip.loss.ClipLoss()
    optimizer = torch.optim.AdamW(
        _param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6, fused=True
    )  # one kernel per step instead of one per tensor: ~10% of a CPU step
    state = _load_checkpoint(out_dir, key, cfg.epochs)
    history: list[dict[str, Any]] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        log.info("resuming CLIP training after epoch %d of %d", len(history), cfg.epochs)
    else:
        (out_dir / CONFIG_FILE).unlink(missing_ok=True)  # an older finished model no longer describes this dir
    write_jsonl(out_dir / LOG_FILE, history)  # drop epochs an interrupted run logged after its last checkpoint
    start_epoch = len(history)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1).to(device)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1).to(device)
    amp_dtype = _train_amp_dtype(device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    steps_per_epoch = len(_epoch_batches(len(images), cfg.batch_size, torch.Generator().manual_seed(0)))
    total_steps = steps_per_epoch * cfg.epochs
    warmup = max(1, round(cfg.warmup_epochs * steps_per_epoch))
    log.info(
        "training CLIP on %d images (%d pairs), epochs %d-%d x %d steps on %s",
        len(images),
        len(pairs),
        start_epoch + 1,
        cfg.epochs,
        steps_per_epoch,
        device,
    )
    started = time.monotonic()
    model.train()
    with Progress(total_steps - start_epoch * steps_per_epoch, "train CLIP", unit="step") as progress:
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            epoch_seed = cfg.seed * 1_000_003 + epoch
            gen = torch.Generator().manual_seed(epoch_seed)
            torch.manual_seed(epoch_seed)  # augmentations draw from the global RNG
            losses = []
            for batch_no, batch in enumerate(_epoch_batches(len(images), cfg.batch_size, gen)):
                step = (epoch - 1) * steps_per_epoch + batch_no
                for group in optimizer.param_groups:
                    group["lr"] = _lr_at(step, total_steps, warmup, cfg.lr)
                pixels = augment_images(images[batch], image_size, cfg.augment_strength).to(device)
                texts = [
                    noise.caption(captions[i][int(torch.randint(len(captions[i]), (), generator=gen))], gen)
                    for i in batch
                ]
                tokens = tokenizer(texts + noise.null_texts(cfg.null_texts, gen)).to(device)
                with torch.autocast(device_type="cuda", dtype=amp_dtype, enabled=amp_dtype is not None):
                    image_features = model.encode_image((pixels - mean) / std, normalize=True)
                    text_features = model.encode_text(tokens, normalize=True)
                    caption_features, null_features = text_features[: len(batch)], text_features[len(batch) :]
                    scale = model.logit_scale.exp()
                    loss = loss_fn(image_features, caption_features, scale)
                    if cfg.null_texts > 0:
                        targets = torch.cat([image_features, caption_features])
                        loss = loss + cfg.null_weight * null_text_loss(null_features, targets)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                with torch.no_grad():
                    model.logit_scale.clamp_(0, math.log(100))
                losses.append(float(loss.detach()))
                progress.update()
            history.append(
                {
                    "epoch": epoch,
                    "loss": float(np.mean(losses)),
                    "lr": optimizer.param_groups[0]["lr"],
                    "logit_scale": float(model.logit_scale.detach().exp()),
                }  # no wall times: the log is part of the KB, whose DVC hash must depend on the seeds alone
            )
            write_jsonl(out_dir / LOG_FILE, history)
            if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
                _save_checkpoint(out_dir, model, optimizer, history, key)

    model.cpu()
    save_model(model, cfg.model, asdict(cfg), out_dir)
    return {
        "loss": [record["loss"] for record in history],
        "epochs_run": list(range(start_epoch + 1, cfg.epochs + 1)),
        "resumed_from_epoch": start_epoch,
        "train_seconds": time.monotonic() - started,
        "images": len(images),
        "pairs": len(pairs),
        "device": device,
    }


def _save_checkpoint(
    out_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    history: list[dict[str, Any]],
    key: dict[str, Any],
) -> None:
    """Weights, optimizer moments and the epoch log; the log inside is what a resumed run continues."""
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "epoch": len(history),
        "history": history,
        "resume_key": key,
    }
    _save_torch(state, out_dir / CHECKPOINT)

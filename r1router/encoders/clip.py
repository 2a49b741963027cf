"""Image-text encoder for the image KB: open_clip, trained here (demo) or pretrained (paper).

Queries to the image KB carry an image, a sub-question, or both, and KB records
carry an image and a caption. Both sides are embedded the same way
(`encode_fused`): the sum of the image and text embeddings, re-normalised
(UniIR's score-level fusion), or whichever of the two is present. A perturbed
photo then matches its record through the image, and a question that names the
entity matches it through the caption.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image

from r1router.device import resolve_device
from r1router.encoders.clip_train import CONFIG_FILE, FORMAT, MODEL_FILE, build_model, tokenizer_for
from r1router.encoders.prefetch import prefetched
from r1router.errors import ConfigError, DataError

ImageInput = Image.Image | str | Path


def _open(image: ImageInput) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    try:
        with Image.open(image) as handle:
            return handle.convert("RGB")
    except (OSError, ValueError) as exc:
        raise DataError(image, f"cannot read image ({exc})") from None


class ClipEncoder:
    """Batched, L2-normalised float32 embeddings from an open_clip model."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Callable[[list[str]], torch.Tensor],
        preprocess: Callable[[Image.Image], torch.Tensor],
        device: str = "auto",
        batch_size: int = 64,
    ):
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.preprocess = preprocess
        # Half precision only for inference on a GPU; CPU fp16 matmuls are slow or unsupported.
        self._amp = torch.float16 if self.device.startswith("cuda") else None
        self._dim: int | None = None

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", batch_size: int = 64) -> ClipEncoder:
        """A model trained by `train_clip`: `config.json` names the architecture, `model.pt` holds the weights."""
        model_dir = Path(model_dir)
        config_path = model_dir / CONFIG_FILE
        if not config_path.is_file() or not (model_dir / MODEL_FILE).is_file():
            raise ConfigError(f"{model_dir}: not a trained CLIP directory (needs {CONFIG_FILE} and {MODEL_FILE})")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("format") != FORMAT:
            raise ConfigError(f"{config_path}: unknown format {config.get('format')!r} (expected {FORMAT})")
        model_cfg = config["model"]
        model = build_model(model_cfg)
        model.load_state_dict(torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True))
        preprocess = open_clip.image_transform(model_cfg["vision_cfg"]["image_size"], is_train=False)
        return cls(model, tokenizer_for(model_cfg), preprocess, device, batch_size)

    @classmethod
    def from_pretrained(
        cls,
        name: str,
        pretrained_tag: str | None,
        device: str = "auto",
        cache_dir: str | Path | None = None,
        batch_size: int = 64,
    ) -> ClipEncoder:
        """Pretrained open_clip weights by architecture name and tag (or checkpoint path), e.g. ViT-B-32 / openai."""
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained_tag, cache_dir=None if cache_dir is None else str(cache_dir)
        )
        return cls(model, open_clip.get_tokenizer(name), preprocess, device, batch_size)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode_text([""]).shape[1])
        return self._dim

    def _run(
        self,
        items: Sequence[Any],
        batch_size: int | None,
        to_batch: Callable[[Sequence[Any]], torch.Tensor],
        encode: Callable[[torch.Tensor], torch.Tensor],
    ) -> np.ndarray:
        """`encode` over batches of `items`; decoding/tokenising the next batches overlaps the current one."""
        size = batch_size or self.batch_size
        on_gpu = self.device.startswith("cuda")

        def prepare(batch: Sequence[Any]) -> torch.Tensor:
            tensor = to_batch(batch)
            return tensor.pin_memory().to(self.device, non_blocking=True) if on_gpu else tensor

        parts = []
        batches = [items[start : start + size] for start in range(0, len(items), size)]
        with torch.inference_mode(), torch.autocast("cuda", dtype=self._amp, enabled=self._amp is not None):
            for batch in prefetched(batches, prepare):
                features = encode(batch).float()
                parts.append(torch.nn.functional.normalize(features, dim=-1).cpu().numpy())
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(parts).astype(np.float32, copy=False)

    def encode_text(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._run(list(texts), batch_size, lambda batch: self.tokenizer(list(batch)), self.model.encode_text)

    def encode_images(self, images: Sequence[ImageInput], batch_size: int | None = None) -> np.ndarray:
        def to_batch(batch: Sequence[ImageInput]) -> torch.Tensor:
            return torch.stack([self.preprocess(_open(image)) for image in batch])

        return self._run(list(images), batch_size, to_batch, self.model.encode_image)

    def encode_fused(
        self, images: Sequence[ImageInput | None], texts: Sequence[str | None], batch_size: int | None = None
    ) -> np.ndarray:
        """normalise(image + text) per row, or the one that is present; a row with neither is an error."""
        if len(images) != len(texts):
            raise ValueError(f"encode_fused: {len(images)} images but {len(texts)} texts")
        fused = np.zeros((len(texts), self.dim), dtype=np.float32)
        with_image = [i for i, image in enumerate(images) if image is not None]
        with_text = [i for i, text in enumerate(texts) if text is not None]
        if missing := sorted(set(range(len(texts))) - set(with_image) - set(with_text)):
            raise ValueError(f"encode_fused: rows {missing[:5]} have neither an image nor a text")
        if with_image:
            fused[with_image] += self.encode_images([images[i] for i in with_image], batch_size)
        if with_text:
            fused[with_text] += self.encode_text([texts[i] for i in with_text], batch_size)
        norms = np.linalg.norm(fused, axis=1, keepdims=True)
        return fused / np.maximum(norms, 1e-12)

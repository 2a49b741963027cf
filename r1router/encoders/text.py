"""Text encoder for the text and table KBs: sentence-transformers behind a small interface.

Vectors come back L2-normalised float32, so an inner-product index (faiss
IndexFlatIP/HNSW) computes cosine similarity, and GPU fp16 runs still give the
CPU-friendly dtype the index expects.

`encode` is sentence-transformers' own inference (length-sorted batches,
`preprocess`, forward, normalise) with the tokenising of the next batches
overlapped with the current forward pass (`r1router.encoders.prefetch`), and
pinned memory with non-blocking copies on a GPU: a KB build hands it a whole
shard at a time, so the sort spans the shard and the model never waits on the tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from r1router.device import resolve_device
from r1router.encoders.prefetch import prefetched
from r1router.errors import ConfigError, DataError
from r1router.models.pull import verify_model_dir


class TextEncoder:
    """Embed passages and queries with one sentence-transformers model."""

    def __init__(self, model_dir_or_id: str | Path, device: str = "auto", batch_size: int = 64):
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.source = str(model_dir_or_id)
        local = Path(model_dir_or_id)
        if local.is_dir():
            verify_model_dir(local)
            self.model = SentenceTransformer(str(local), device=self.device, local_files_only=True)
        else:
            # Not a directory: a hub id (paper profile), or a path that was never pulled.
            try:
                self.model = SentenceTransformer(self.source, device=self.device)
            except OSError as exc:
                raise DataError(
                    self.source, f"not a model directory, and loading it as a hub id failed ({exc})"
                ) from None
        if self.device.startswith("cuda"):
            self.model.half()  # inference only: fp16 halves memory and doubles throughput on GPUs
        self.model.eval()

    @property
    def dim(self) -> int:
        dim = self.model.get_embedding_dimension()
        assert dim is not None, f"{self.source} does not report an embedding dimension"
        return dim

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Return an `(len(texts), dim)` float32 array of unit-length rows, in the order of `texts`."""
        size = batch_size or self.batch_size
        order = np.argsort([-len(text) for text in texts], kind="stable")  # longest first, as sentence-transformers
        batches = [[texts[i] for i in order[start : start + size]] for start in range(0, len(texts), size)]
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        done = 0
        with torch.inference_mode():
            for features in prefetched(batches, self._features):
                embedded = self.model(features)["sentence_embedding"].float()
                rows = torch.nn.functional.normalize(embedded, p=2, dim=1).cpu().numpy()
                vectors[order[done : done + len(rows)]] = rows
                done += len(rows)
        return vectors

    def _features(self, texts: list[str]) -> dict[str, Any]:
        """Tokenised `texts` on the model's device (runs on the prefetch thread)."""
        features = self.model.preprocess(texts)
        on_gpu = self.device.startswith("cuda")
        return {
            key: (value.pin_memory().to(self.device, non_blocking=True) if on_gpu else value)
            if torch.is_tensor(value)
            else value
            for key, value in features.items()
        }

    def encode_fused(self, images: Sequence[object | None], texts: Sequence[str | None]) -> np.ndarray:
        """The image kind's interface for a pool with no images (text-only M-BEIR candidates, the release corpus).

        A text encoder cannot see pixels: a row with an image is refused rather than embedded by its text alone,
        which would quietly make image search text search.
        """
        if any(image is not None for image in images):
            raise ConfigError(
                f"{self.source} is a text encoder: it cannot embed images (use an image encoder for this KB)"
            )
        if any(text is None for text in texts):
            raise ValueError("encode_fused: a text encoder needs a text for every row")
        return self.encode([str(text) for text in texts])

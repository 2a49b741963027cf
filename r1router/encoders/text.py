"""Text encoder for the text and table KBs: sentence-transformers behind a small interface.

Vectors come back L2-normalised float32, so an inner-product index (faiss
IndexFlatIP/HNSW) computes cosine similarity, and GPU fp16 runs still give the
CPU-friendly dtype the index expects.

`encode` is sentence-transformers' own inference (length-sorted batches,
`preprocess`, forward, normalise) with the tokenising of the next batches
overlapped with the current forward pass (`r1router.encoders.prefetch`), and
pinned memory with non-blocking copies on a GPU: a KB build hands it a whole
shard at a time, so the sort spans the shard and the model never waits on the tokenizer.

`batch_size="auto"` sizes batches by memory on a GPU: the first batch tries
`AUTO_CEILING` texts, and a batch that runs out of GPU memory is retried at half
the size, which the encoder then keeps for the rest of the run. The longest
texts come first in every call, so the size that fits a call's first batch fits
the rest of it. On a CPU "auto" is `DEFAULT_BATCH_SIZE`: throughput is flat beyond it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from r1router.device import resolve_device
from r1router.encoders.batch_size import AUTO_BATCH_SIZE, DEFAULT_BATCH_SIZE, BatchSize, check_batch_size
from r1router.encoders.prefetch import prefetched
from r1router.errors import ConfigError, DataError
from r1router.models.pull import verify_model_dir

AUTO_CEILING = 1024  # "auto" on a GPU starts here and halves to fit: a bound, so one batch is never a whole shard
log = logging.getLogger(__name__)


class TextEncoder:
    """Embed passages and queries with one sentence-transformers model."""

    def __init__(self, model_dir_or_id: str | Path, device: str = "auto", batch_size: BatchSize = DEFAULT_BATCH_SIZE):
        self.sized_by_memory = check_batch_size(batch_size, "batch_size") == AUTO_BATCH_SIZE
        self.device = resolve_device(device)
        self.batch_size = _initial_batch_size(batch_size, self.device)  # shrinks on out-of-memory when sized_by_memory
        self._reported_size: int | None = None  # the memory-sized batch size last logged
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
        """Return an `(len(texts), dim)` float32 array of unit-length rows, in the order of `texts`.

        A `batch_size` given here is used as is, never shrunk: the caller chose it.
        """
        order = np.argsort([-len(text) for text in texts], kind="stable")  # longest first, as sentence-transformers
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        done = 0
        while done < len(texts):
            size = batch_size or self.batch_size
            done = self._embed_from(texts, order, vectors, done, size, may_shrink=batch_size is None)
            if done < len(texts):
                self._shrink(size)
        if self.sized_by_memory and self.batch_size != self._reported_size:
            log.info("%s: %d texts a batch fit in %s memory", self.source, self.batch_size, self.device)
            self._reported_size = self.batch_size
        return vectors

    def _embed_from(
        self, texts: Sequence[str], order: np.ndarray, vectors: np.ndarray, done: int, size: int, may_shrink: bool
    ) -> int:
        """Embed `texts[order[done:]]` into `vectors` in batches of `size`; return how many rows are done.

        That is all of them, or, when the size `may_shrink`, those before a batch that ran
        out of GPU memory. Returning (not raising) drops this frame's references to the
        batch's tensors, so `_shrink` can hand their memory back before the retry.
        """
        batches = [[texts[i] for i in order[start : start + size]] for start in range(done, len(texts), size)]
        try:
            with torch.inference_mode():
                for features in prefetched(batches, self._features):
                    rows = self._forward(features)
                    vectors[order[done : done + len(rows)]] = rows
                    done += len(rows)
        except torch.cuda.OutOfMemoryError:
            if not (may_shrink and self.sized_by_memory and size > 1):
                raise
        return done

    def _forward(self, features: dict[str, Any]) -> np.ndarray:
        """One batch through the model: unit-length float32 rows (a test raises out-of-memory here)."""
        embedded = self.model(features)["sentence_embedding"].float()
        return torch.nn.functional.normalize(embedded, p=2, dim=1).cpu().numpy()

    def _shrink(self, size: int) -> None:
        """Halve the batch size after a batch of `size` ran out of GPU memory, and free the cached blocks."""
        torch.cuda.empty_cache()  # a no-op where CUDA was never initialised
        self.batch_size = size // 2
        log.debug("%s: %d texts a batch ran out of memory; trying %d", self.source, size, self.batch_size)

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


def _initial_batch_size(batch_size: BatchSize, device: str) -> int:
    """The first batch size: an int as given; "auto" is `AUTO_CEILING` on a GPU (to shrink to fit), else the default."""
    if isinstance(batch_size, int):
        return batch_size
    return AUTO_CEILING if device.startswith("cuda") else DEFAULT_BATCH_SIZE

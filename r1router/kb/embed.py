"""Sharded, resumable embedding of a KB.

Embeddings are streamed to fixed-size `.npy` shards, each written atomically.
A rerun after an interruption loads the finished shards and computes only the
rest; a change of records or encoder (the fingerprint) invalidates them all.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from r1router.io import atomic_path, write_json
from r1router.progress import Progress

EncodeBatch = Callable[[list[dict[str, Any]]], np.ndarray]


def _shard_path(shard_dir: Path, index: int) -> Path:
    return shard_dir / f"emb-{index:05d}.npy"


def _prepare(shard_dir: Path, fingerprint: str, shard_size: int) -> None:
    meta_path = shard_dir / "meta.json"
    meta = {"fingerprint": fingerprint, "shard_size": shard_size}
    if meta_path.is_file() and json.loads(meta_path.read_text()) == meta:
        return
    shutil.rmtree(shard_dir, ignore_errors=True)
    write_json(meta_path, meta)


def _load_finished(path: Path, rows: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        shard = np.load(path)
    except (ValueError, OSError):
        return None  # unreadable: recompute rather than trust it
    return shard if shard.shape[0] == rows else None


def embed_in_shards(
    records: Sequence[dict[str, Any]],
    encode_batch: EncodeBatch,
    shard_dir: Path,
    fingerprint: str,
    shard_size: int = 2048,
    batch_size: int = 64,
    desc: str = "embed",
) -> tuple[np.ndarray, dict[str, int]]:
    """Return all embeddings (float32, row i = record i) and counts of reused/computed shards."""
    shard_dir = Path(shard_dir)
    _prepare(shard_dir, fingerprint, shard_size)
    shards: list[np.ndarray] = []
    stats = {"shards_reused": 0, "shards_computed": 0}
    with Progress(len(records), desc, unit="rec") as progress:
        for shard_index, start in enumerate(range(0, len(records), shard_size)):
            chunk = records[start : start + shard_size]
            path = _shard_path(shard_dir, shard_index)
            shard = _load_finished(path, len(chunk))
            if shard is None:
                parts = []
                for offset in range(0, len(chunk), batch_size):
                    batch = list(chunk[offset : offset + batch_size])
                    parts.append(np.asarray(encode_batch(batch), dtype=np.float32))
                    progress.update(len(batch))
                shard = np.concatenate(parts)
                with atomic_path(path, suffix=".npy") as tmp, open(tmp, "wb") as handle:
                    np.save(handle, shard)
                stats["shards_computed"] += 1
            else:
                progress.update(len(chunk))
                stats["shards_reused"] += 1
            shards.append(shard)
    return np.concatenate(shards), stats

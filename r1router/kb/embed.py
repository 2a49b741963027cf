"""Sharded, resumable embedding of a KB, in a cache keyed by what determines the vectors.

Embeddings are streamed to fixed-size `.npy` shards, each written atomically.
A rerun after an interruption loads the finished shards and computes only the
rest. The shards live in an entry of the cache directory named after the
fingerprint (records, encoder, settings) and the shard size, never after where
the KB is written: two builds whose content differs can share a cache directory
and never read each other's vectors. A build holds the cache directory's lock
(`filelock`, released by the kernel if the holder dies) while it reads and
writes there, so a second build of the same content waits and then reuses the
first one's shards instead of writing the same files at the same time.

Each entry names the build that last used it (`owner`, the KB's directory).
After a build succeeds, the other entries it owned are deleted: a corpus that
changes every month does not leave a copy of its embeddings per month, while
entries of other KBs sharing the cache stay.

On a Ray cluster `r1router.distributed.embed` fills the same entry first, cut
by the same `shard_bounds`; the run here then finds every shard finished.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from r1router.hashing import text_sha256
from r1router.io import atomic_path, write_json
from r1router.progress import Progress

EncodeShard = Callable[[list[dict[str, Any]]], np.ndarray]  # one shard's records -> their vectors
LOCK_FILE = ".lock"
META_FILE = "meta.json"

log = logging.getLogger(__name__)


def loaded_on_first_use(make_encode: Callable[[], EncodeShard]) -> EncodeShard:
    """A shard encoder that loads the model at its first shard: one whose shards are all cached never loads it."""
    loaded: list[EncodeShard] = []

    def encode(records: list[dict[str, Any]]) -> Any:
        if not loaded:
            loaded.append(make_encode())
        return loaded[0](records)

    return encode


def entry_dir(cache_dir: Path, fingerprint: str, shard_size: int) -> Path:
    """The cache entry holding the shards of `fingerprint` cut every `shard_size` records."""
    return Path(cache_dir) / text_sha256(f"{fingerprint}:{shard_size}")[:32]


@contextmanager
def cache_lock(cache_dir: Path) -> Iterator[None]:
    """Hold the cache directory's lock for the block, saying so when another build holds it first."""
    lock = FileLock(Path(cache_dir) / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for %s: another build is embedding into this cache", lock.lock_file)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def shard_path(entry: Path, index: int) -> Path:
    return entry / f"emb-{index:05d}.npy"


def shard_bounds(count: int, shard_size: int) -> list[tuple[int, int]]:
    """(start, end) of each shard of `count` records: the cut every engine embeds by."""
    return [(start, min(start + shard_size, count)) for start in range(0, count, shard_size)]


def _read_meta(entry: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((entry / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def prepare_entry(entry: Path, fingerprint: str, shard_size: int, owner: str | None) -> None:
    """Make `entry` hold only shards of this fingerprint, and name `owner` as its last user."""
    meta = {"fingerprint": fingerprint, "shard_size": shard_size}
    found = _read_meta(entry)
    if found is None or {key: found.get(key) for key in meta} != meta:
        shutil.rmtree(entry, ignore_errors=True)  # unreadable or foreign: recompute rather than trust it
    write_json(entry / META_FILE, {**meta, "owner": owner})


def _prune(cache_dir: Path, keep: Path, owner: str) -> None:
    """Delete the entries `owner` used last, except `keep`: embeddings of inputs it no longer has."""
    for entry in Path(cache_dir).iterdir():
        if entry != keep and entry.is_dir() and (_read_meta(entry) or {}).get("owner") == owner:
            shutil.rmtree(entry)


def load_finished(path: Path, rows: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        shard = np.load(path)
    except (ValueError, OSError):
        return None  # unreadable: recompute rather than trust it
    return shard if shard.shape[0] == rows else None


def save_shard(path: Path, shard: np.ndarray) -> None:
    """Write one shard atomically: a reader sees all of it or no file."""
    with atomic_path(path, suffix=".npy") as tmp, open(tmp, "wb") as handle:
        np.save(handle, shard)


def embed_in_shards(
    records: Sequence[dict[str, Any]],
    encode: EncodeShard,
    cache_dir: Path,
    fingerprint: str,
    shard_size: int = 2048,
    desc: str = "embed",
    owner: str | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Return all embeddings (float32, row i = record i) and counts of reused/computed shards.

    `encode` gets a whole shard at once: the encoder batches it (length-sorted
    across the shard, the next batch tokenised while one computes), which a
    call per batch would prevent. `fingerprint` must change whenever the
    vectors would (records, encoder, device); `owner` (the KB directory) lets a
    successful run delete the entries it used before. Without an owner nothing is pruned.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    entry = entry_dir(cache_dir, fingerprint, shard_size)
    shards: list[np.ndarray] = []
    stats = {"shards_reused": 0, "shards_computed": 0}
    with cache_lock(cache_dir), Progress(len(records), desc, unit="rec") as progress:
        prepare_entry(entry, fingerprint, shard_size, owner)
        for shard_index, (start, end) in enumerate(shard_bounds(len(records), shard_size)):
            chunk = records[start:end]
            path = shard_path(entry, shard_index)
            shard = load_finished(path, len(chunk))
            if shard is None:
                shard = np.asarray(encode(list(chunk)), dtype=np.float32)
                progress.update(len(chunk))
                save_shard(path, shard)
                stats["shards_computed"] += 1
            else:
                progress.update(len(chunk))
                stats["shards_reused"] += 1
            shards.append(shard)
        if owner is not None:
            _prune(cache_dir, entry, owner)
    return np.concatenate(shards), stats

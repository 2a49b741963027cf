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

Shards are float16 on disk: half the disk and page cache of float32, and for
unit-length vectors a rounding (relative error under 2^-11 per component) far
below what separates search results. `embedded` yields the shards
themselves (`EmbeddingShards`), never one array: the index is built from one
shard at a time, so no step holds every embedding in memory.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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
SHARD_DTYPE = np.dtype(np.float16)  # on disk; read back as float32

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


def is_finished(path: Path, rows: int) -> bool:
    """Whether `path` holds a finished shard of `rows` float16 vectors (only its header is read).

    A shard that is unreadable, of another length, or float32 (a cache written
    before shards were float16) counts as unfinished and is recomputed rather
    than accepted: a KB's index is then always built from the same float16
    values, so a rebuild writes the same bytes whatever the cache held before.
    """
    if not path.is_file():
        return False
    try:
        shard = np.load(path, mmap_mode="r")
    except (ValueError, OSError):
        return False  # unreadable: recompute rather than trust it
    return shard.dtype == SHARD_DTYPE and shard.ndim == 2 and shard.shape[0] == rows


def missing_shards(entry: Path, bounds: Sequence[tuple[int, int]]) -> list[int]:
    """Numbers of the shards cut at `bounds` that `entry` does not hold finished: what is left to embed."""
    return [
        number for number, (start, end) in enumerate(bounds) if not is_finished(shard_path(entry, number), end - start)
    ]


def save_shard(path: Path, shard: np.ndarray) -> None:
    """Write one shard atomically as float16: a reader sees all of it or no file."""
    with atomic_path(path, suffix=".npy") as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(shard).astype(SHARD_DTYPE))


@dataclass(frozen=True)
class EmbeddingShards:
    """A KB's embeddings as their shard files, row i = record i, read one shard at a time.

    What an index build needs without holding every embedding: the shards in
    order as float32 blocks (`blocks`), and any rows gathered through memory
    maps (`take`, for IVF/PQ's training sample), which read only those rows' pages.
    """

    paths: tuple[Path, ...]
    rows: int
    dim: int

    @classmethod
    def of(cls, paths: Sequence[Path]) -> EmbeddingShards:
        """The shards at `paths`, in row order; their headers give the row count and dimension."""
        shapes = [np.load(path, mmap_mode="r").shape for path in paths]
        return cls(tuple(paths), sum(shape[0] for shape in shapes), shapes[0][1] if shapes else 0)

    def blocks(self) -> Iterator[np.ndarray]:
        """Each shard as a float32 array, in row order; one is loaded at a time."""
        for path in self.paths:
            yield np.load(path, mmap_mode="r").astype(np.float32)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The float32 vectors of `rows` (sorted row numbers), gathered shard by shard."""
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        start = 0
        for path in self.paths:
            shard = np.load(path, mmap_mode="r")
            low, high = np.searchsorted(rows, [start, start + len(shard)])
            out[low:high] = shard[rows[low:high] - start]
            start += len(shard)
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every row in one array (`np.asarray(shards)`): for tests and small uses; a KB build never does this."""
        vectors = self.take(np.arange(self.rows))
        return vectors if dtype is None else vectors.astype(dtype)


@contextmanager
def embedded(
    records: Sequence[dict[str, Any]],
    encode: EncodeShard,
    cache_dir: Path,
    fingerprint: str,
    shard_size: int = 2048,
    desc: str = "embed",
    owner: str | None = None,
) -> Iterator[tuple[EmbeddingShards, dict[str, int]]]:
    """Embed `records` into the cache; yield their shards (row i = record i) and counts of reused/computed shards.

    `encode` gets a whole shard at once: the encoder batches it (length-sorted
    across the shard, the next batch tokenised while one computes), which a
    call per batch would prevent. `fingerprint` must change whenever the
    vectors would (records, encoder, device); `owner` (the KB directory) lets a
    successful run delete the entries it used before. Without an owner nothing is pruned.

    The cache's lock is held until the block ends: a KB build reads its shards
    after embedding them (the index is built one shard at a time), and a second
    build into the same KB directory would prune them as its owner's old entry.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    entry = entry_dir(cache_dir, fingerprint, shard_size)
    paths: list[Path] = []
    stats = {"shards_reused": 0, "shards_computed": 0}
    with cache_lock(cache_dir):
        with Progress(len(records), desc, unit="rec") as progress:
            prepare_entry(entry, fingerprint, shard_size, owner)
            for shard_index, (start, end) in enumerate(shard_bounds(len(records), shard_size)):
                chunk = records[start:end]
                path = shard_path(entry, shard_index)
                if is_finished(path, len(chunk)):
                    stats["shards_reused"] += 1
                else:
                    save_shard(path, np.asarray(encode(list(chunk)), dtype=np.float32))
                    stats["shards_computed"] += 1
                progress.update(len(chunk))
                paths.append(path)
            if owner is not None:
                _prune(cache_dir, entry, owner)
        yield EmbeddingShards.of(paths), stats

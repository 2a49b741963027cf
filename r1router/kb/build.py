"""Build one KB: validate records, embed them (resumably), index them, write a manifest.

Layout of a built KB directory::

    records.parquet   id, passage, record (JSON of the validated input row)
    index.faiss       the faiss index, row i = record i (a `sharded` index: index-00000.faiss, ... in row order)
    manifest.json     what was built from what: counts, encoder (absolute path and sha256), index, device,
                      input hashes, and the size and sha256 of records.parquet and every index file

The manifest makes a KB self-contained: it searches the same way from any
working directory, and a damaged or replaced file is refused when it is opened
(`r1router.kb.retriever.KnowledgeBase`) instead of answering with absurd scores.

The output directory is the user's: a build writes into a new or empty
directory, replaces a KB there only when told to (`replace`, the CLI's
`--force`; the pipeline replaces its own), and refuses anything else: a
directory holding other files, the input itself, or a directory holding the input.

Embedding shards live in a separate cache directory (`shard_dir`, see
`r1router.kb.embed`) that survives a failed or interrupted build (DVC deletes a
stage's outputs before re-running it), so the next build resumes instead of
re-embedding.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from r1router.device import gpu_free_bytes, resolve_device
from r1router.distributed.engine import Engine
from r1router.encoders.batch_size import DEFAULT_BATCH_SIZE, BatchSize, check_batch_size
from r1router.errors import ConfigError, DataError
from r1router.hashing import file_sha256, text_sha256, tree_sha256
from r1router.io import atomic_dir, write_json, write_parquet
from r1router.kb.build_time import estimate_build
from r1router.kb.embed import EncodeShard, embedded, entry_dir, loaded_on_first_use
from r1router.kb.encoders import load_encoder, manifest_spec
from r1router.kb.index import (
    INDEX_FILE,
    SHARD_FILE,
    IndexConfig,
    check_fits,
    check_fits_gpu,
    gpu_available,
    write_index,
)
from r1router.kb.kinds import KBKind, get_kind
from r1router.kb.records import load_records, records_base_dir

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RECORDS = "records.parquet"
# Far above the paper's passages (100-word windows, split tables), far below what exhausts memory.
DEFAULT_MAX_PASSAGE_WORDS = 4096

# What a KB directory may hold: its files, and the stamp the pipeline writes into its outputs (tasks.caching.STAMP).
KB_DIR_FILES = frozenset({MANIFEST, RECORDS, INDEX_FILE, ".r1router-stamp"})


def is_checked_file(name: str) -> bool:
    """A KB file the manifest sizes and hashes: the records, or an index file of any type."""
    return name in (RECORDS, INDEX_FILE) or SHARD_FILE.fullmatch(name) is not None


def file_entry(path: Path) -> dict[str, Any]:
    """A manifest's record of one KB file: its size (checked at every open) and sha256."""
    return {"size": path.stat().st_size, "sha256": file_sha256(path)}


def is_kb_dir(path: Path) -> bool:
    """A directory holding this project's KB manifest: JSON with a `kind`."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "kind" in manifest


def check_destination(out_dir: Path, input_path: Path, shard_dir: Path, replace: bool) -> None:
    """Refuse an output directory a build must not write: see the module docstring."""
    out, source = Path(out_dir).resolve(), Path(input_path).resolve()
    if source == out or source.is_relative_to(out):
        raise DataError(out_dir, f"holds the KB's input {input_path}: the build would replace it; choose another --out")
    if source.is_dir() and out.is_relative_to(source):
        raise DataError(out_dir, f"is inside the input directory {input_path}; choose another --out")
    if Path(shard_dir).resolve().is_relative_to(out):
        raise ConfigError(f"the embedding cache {shard_dir} is inside the KB directory {out_dir}; put it elsewhere")
    if Path.cwd().resolve().is_relative_to(out):  # `--out .`: the swap would pull the directory out from under us
        raise DataError(out_dir, "is the current directory (or holds it); name a new directory, e.g. --out ./kb")
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise DataError(out_dir, "exists and is not a directory; choose another --out")
    names = sorted(os.listdir(out_dir))
    if not names:
        return
    if not is_kb_dir(out_dir):
        held = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        raise DataError(out_dir, f"is not empty and not a KB (holds {held}); choose another --out")
    if foreign := [name for name in names if name not in KB_DIR_FILES and not is_checked_file(name)]:
        listed = ", ".join(foreign[:5])
        raise DataError(out_dir, f"holds files that are not part of a KB ({listed}); move them or choose another --out")
    if not replace:
        raise DataError(out_dir, "already holds a KB; replace it with --force, or choose another --out")


@dataclass(frozen=True)
class DocumentEncoder:
    """Loads a KB's encoder and returns its shard encoder: picklable, so a Ray worker can load the model itself."""

    kind: KBKind
    spec: dict[str, Any]
    device: str
    root: Path
    batch_size: BatchSize
    base_dir: Path

    def __call__(self) -> EncodeShard:
        encoder = load_encoder(self.spec, self.kind, self.device, self.root, batch_size=self.batch_size)
        return partial(self.kind.encode_documents, encoder, base_dir=self.base_dir)


@contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive `flock` on the directory itself, so two builds' final check-and-swap never interleave.

    The directory, not a lock file: nothing is left in a user's folder or in a
    DVC output, and the kernel drops the lock if the holder dies.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def build_kb(
    kind_name: str,
    input_path: Path,
    out_dir: Path,
    encoder_spec: dict[str, Any],
    index_config: IndexConfig,
    *,
    shard_dir: Path,
    device: str = "auto",
    shard_size: int = 2048,
    batch_size: BatchSize = DEFAULT_BATCH_SIZE,
    root: Path = Path("."),
    encoder: Any = None,
    replace: bool = False,
    max_passage_words: int | None = DEFAULT_MAX_PASSAGE_WORDS,
    engine: Engine | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate → embed → index; return (manifest, run stats). Pass `encoder` to reuse a loaded one.

    `shard_dir` is the embedding cache (entries keyed by content, see
    `r1router.kb.embed`); `replace` allows replacing a KB already in `out_dir`;
    `max_passage_words` bounds each passage (None: no bound); a Ray `engine`
    embeds the missing shards on its cluster first (`r1router.distributed.embed`),
    and the model is then never loaded in this process.
    Relative encoder paths start at `root`. Everything that can be refused
    (destination, encoder spec, every record and image) is checked before a
    model loads. The manifest holds only what the inputs determine, so a
    rebuild from the same inputs writes the same file; timings and shard reuse go in the stats.
    """
    kind = get_kind(kind_name)
    input_path, out_dir, shard_dir = Path(input_path), Path(out_dir), Path(shard_dir)
    started = time.monotonic()
    check_destination(out_dir, input_path, shard_dir, replace)
    # The user's data first: its errors matter more than a missing encoder.
    records = load_records(input_path, kind, max_passage_words)
    check_batch_size(batch_size)  # here, not on a Ray worker where the encoder loads
    spec = manifest_spec(encoder_spec, kind, out_dir, root)
    base_dir = records_base_dir(input_path)  # where records' image paths start, as validation resolved them
    passages = [kind.passage(r) for r in records]
    record_json = [json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records]
    records_sha = text_sha256("\n".join(record_json))
    device = resolve_device(device)
    # As given: `spec` was hashed just now.
    make_encode = DocumentEncoder(kind, encoder_spec, device, Path(root).resolve(), batch_size, base_dir.resolve())
    spec_json = json.dumps(spec, sort_keys=True)
    fingerprint = text_sha256(f"{kind.name}:{records_sha}:{base_dir.resolve()}:{spec_json}:{device}")
    owner = str(out_dir.resolve())
    ray_stats: dict[str, int] = {}
    if engine is not None and engine.is_ray:
        from r1router.distributed.embed import embed_missing_shards

        ray_stats = embed_missing_shards(
            records,
            make_encode,
            shard_dir,
            fingerprint,
            engine=engine,
            device=device,
            shard_size=shard_size,
            owner=owner,
            desc=f"embed {kind.name} KB on ray",
        )
    encode = (
        partial(kind.encode_documents, encoder, base_dir=make_encode.base_dir)
        if encoder
        else loaded_on_first_use(make_encode)
    )
    parent = out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    # Before any embedding: what the build will take, and a refusal (with the numbers) of an index that will
    # not fit, instead of after hours of embedding.
    entry = entry_dir(shard_dir, fingerprint, shard_size)
    estimate, dim = estimate_build(records, encode, entry, shard_size, index_config, device)
    log.info("%s KB: %s", kind.name, estimate.describe())
    check_fits(len(records), dim, index_config, shard_rows=shard_size)
    if estimate.gpu_bytes:
        check_fits_gpu(len(records), dim, index_config, device, gpu_free_bytes(device))
    # Index files are written as they are built (a sharded index is never whole in memory), into a staging
    # directory beside --out that is gone when the build ends: at the swap they move into the KB.
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.resolve().name}.", suffix=".index", dir=parent) as staged:
        staging = Path(staged)
        # Under the cache's lock until the index is built: it reads the shards one at a time.
        with embedded(
            records,
            encode,
            shard_dir,
            fingerprint=fingerprint,
            shard_size=shard_size,
            desc=f"embed {kind.name} KB",
            owner=owner,
        ) as (shards, embed_stats):
            index_files = write_index(shards, index_config, staging, device)

        manifest = {
            "kind": kind.name,
            "count": len(records),
            "dim": shards.dim,
            "encoder": spec,
            "index": asdict(index_config),
            "device": device,
            "faiss_gpu": gpu_available(),
            "input": {"path": str(input_path), "sha256": tree_sha256(input_path)},
            "records_sha256": records_sha,
        }
        # The files appear together or not at all: a reader never sees an index
        # without its records, or a manifest describing a KB that was not finished.
        with _directory_lock(parent), atomic_dir(out_dir) as tmp:
            write_parquet(
                tmp / RECORDS,
                pa.table({"id": [r["id"] for r in records], "passage": passages, "record": record_json}),
            )
            for name in index_files:
                os.replace(staging / name, tmp / name)
            manifest["files"] = {name: file_entry(tmp / name) for name in (*index_files, RECORDS)}
            write_json(tmp / MANIFEST, manifest)
            # Again, under the lock: a build into the same --out may have finished since; it wins, this one is refused.
            check_destination(out_dir, input_path, shard_dir, replace)
    stats = {**embed_stats, **{f"{key}_on_ray": n for key, n in ray_stats.items()}}
    stats["seconds"] = round(time.monotonic() - started, 2)
    stats["estimated_seconds"] = round(estimate.total_seconds, 2)  # embedding and index, beside what they took
    return manifest, stats

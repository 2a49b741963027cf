"""Build one KB: validate records, embed them (resumably), index them, write a manifest.

Layout of a built KB directory::

    records.parquet   id, passage, record (JSON of the validated input row)
    index.faiss       the faiss index, row i = record i
    manifest.json     what was built from what: counts, encoder, index, device, input hashes

Embedding shards live in a separate `shard_dir` that survives a failed or
interrupted build (DVC deletes a stage's outputs before re-running it), so
the next build resumes instead of re-embedding.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from r1router.device import resolve_device
from r1router.hashing import text_sha256, tree_sha256
from r1router.io import atomic_dir, write_json, write_parquet
from r1router.kb.embed import embed_in_shards
from r1router.kb.encoders import encoder_fingerprint, load_encoder
from r1router.kb.index import IndexConfig, build_index, gpu_available, save_index
from r1router.kb.kinds import get_kind
from r1router.kb.records import load_records

MANIFEST = "manifest.json"


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
    batch_size: int = 64,
    root: Path = Path("."),
    encoder: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate → embed → index; return (manifest, run stats). Pass `encoder` to reuse a loaded one.

    The manifest holds only what the inputs determine, so a rebuild from the same
    inputs writes the same file; timings and shard reuse go in the stats.
    """
    kind = get_kind(kind_name)
    input_path, out_dir = Path(input_path), Path(out_dir)
    started = time.monotonic()
    records = load_records(input_path, kind)
    passages = [kind.passage(r) for r in records]
    record_json = [json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records]
    records_sha = text_sha256("\n".join(record_json))
    device = resolve_device(device)
    encoder = encoder or load_encoder(encoder_spec, kind, device, root)
    base_dir = input_path if input_path.is_dir() else input_path.parent  # where records' image paths start
    vectors, embed_stats = embed_in_shards(
        records,
        lambda batch: kind.encode_documents(encoder, batch, base_dir),
        Path(shard_dir),
        fingerprint=text_sha256(f"{kind.name}:{records_sha}:{encoder_fingerprint(encoder_spec, root)}"),
        shard_size=shard_size,
        batch_size=batch_size,
        desc=f"embed {kind.name} KB",
    )
    index = build_index(vectors, index_config)
    manifest = {
        "kind": kind.name,
        "count": len(records),
        "dim": int(vectors.shape[1]),
        "encoder": encoder_spec,
        "index": asdict(index_config),
        "device": device,
        "faiss_gpu": gpu_available(),
        "input": {"path": str(input_path), "sha256": tree_sha256(input_path)},
        "records_sha256": records_sha,
    }
    # The three files appear together or not at all: a reader never sees an index
    # without its records, or a manifest describing a KB that was not finished.
    with atomic_dir(out_dir) as tmp:
        write_parquet(
            tmp / "records.parquet",
            pa.table({"id": [r["id"] for r in records], "passage": passages, "record": record_json}),
        )
        save_index(index, tmp / "index.faiss")
        write_json(tmp / MANIFEST, manifest)
    stats = {**embed_stats, "seconds": round(time.monotonic() - started, 2)}
    return manifest, stats

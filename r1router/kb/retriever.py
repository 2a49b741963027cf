"""Search built KBs: `search(kb, queries, images=None, k) -> hits`, batched.

A `KnowledgeBase` is self-describing: its manifest names the encoder that
embedded it (by absolute path and content hash), so queries are always
embedded the same way as its documents, from any working directory. Opening a
KB checks it before anything is searched: the manifest's shape, the size of
its index file(s) and `records.parquet` (and their sha256 when they are small
enough to hash in well under a second, or when asked), the index's dimension
against the manifest and the encoder's, and the encoder's files against their
hash. A damaged KB is a DataError naming the file, not a search with absurd scores.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from r1router.device import resolve_device
from r1router.errors import DataError
from r1router.hashing import file_sha256
from r1router.io import read_parquet
from r1router.kb.build import MANIFEST, RECORDS, is_checked_file
from r1router.kb.encoders import load_encoder
from r1router.kb.hit import Hit
from r1router.kb.index import INDEX_FILE, VectorIndex, check_count, load_index, to_search_device
from r1router.kb.kinds import get_kind
from r1router.kb.kinds.base import QueryImage

log = logging.getLogger(__name__)

VERIFY_BYTES = 512 << 20  # hashed at every open up to this size: about 0.35 s at sha256's 1.5 GB/s
_MANIFEST_FIELDS: dict[str, type] = {"kind": str, "count": int, "dim": int, "encoder": dict, "files": dict}


def read_manifest(kb_dir: Path) -> dict[str, Any]:
    """A KB's manifest, checked for the fields opening it needs; a DataError naming the file otherwise."""
    manifest_path = Path(kb_dir) / MANIFEST
    if not manifest_path.is_file():
        raise DataError(manifest_path, "KB manifest not found; run `r1router kb build` first")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(manifest_path, f"not a readable KB manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise DataError(manifest_path, f"not a KB manifest (a JSON {type(manifest).__name__}, not an object)")
    for field, expected in _MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(field), expected):
            found = "missing" if field not in manifest else f"a {type(manifest[field]).__name__}"
            older = "; a KB built by an older r1router: rebuild it" if field == "files" else ""
            raise DataError(
                manifest_path, f"not a usable KB manifest: expected a {expected.__name__}, {found}{older}", field=field
            )
    files = manifest["files"]
    if strays := sorted(name for name in files if not is_checked_file(name)):  # never a path out of the KB
        raise DataError(manifest_path, f"names files a KB does not hold: {', '.join(strays[:3])}", field="files")
    for name in (RECORDS, *(index_names(manifest) or [INDEX_FILE])):
        entry = files.get(name)
        if not (
            isinstance(entry, dict) and isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str)
        ):
            raise DataError(manifest_path, f"no size and sha256 for {name}", field="files")
    return manifest


def index_names(manifest: dict[str, Any]) -> list[str]:
    """The index files a (checked) manifest lists: `index.faiss`, or a sharded index's files in row order."""
    return sorted(name for name in manifest["files"] if name != RECORDS)


def check_files(kb_dir: Path, manifest: dict[str, Any], names: tuple[str, ...], verify: bool | None) -> None:
    """Compare KB files with the manifest: size always; sha256 if `verify`, or if None and they are small.

    The size costs a `stat` and catches truncation and most replacements; the
    hash reads every byte, which at the paper's sizes (tens of GB) takes
    minutes, hence the `verify` switch (`r1router kb search --verify`).
    """
    for name in names:
        path, expected = Path(kb_dir) / name, manifest["files"][name]
        if not path.is_file():
            raise DataError(path, "KB file missing; rebuild the KB with `r1router kb build`")
        size = path.stat().st_size
        if size != expected["size"]:
            raise DataError(path, f"is {size} bytes but the KB's manifest says {expected['size']}: damaged or replaced")
    total = sum(manifest["files"][name]["size"] for name in names)
    if verify or (verify is None and total <= VERIFY_BYTES):
        for name in names:
            path = Path(kb_dir) / name
            if file_sha256(path) != manifest["files"][name]["sha256"]:
                raise DataError(path, "sha256 differs from the KB's manifest: damaged or replaced; rebuild the KB")


def check_dim(dim: int | None, expected: int, where: Path, what: str) -> None:
    """Refuse vectors of another width than the KB's: faiss would compare them meaninglessly, or crash.

    `what` says whose vectors are `dim` wide; None (an encoder that does not say) passes.
    """
    if dim is not None and int(dim) != expected:
        raise DataError(where, f"{what} {dim}-dimensional vectors, but the KB holds {expected}-dimensional ones")


class KnowledgeBase:
    """One built KB loaded for search.

    `encoder` and `index` replace what the manifest and the index file(s) would
    load: a shared encoder, or another `VectorIndex` (sharded, remote) over
    the same rows. `verify` hashes the KB's files: True always, False never
    (sizes are still checked), None when they total at most `VERIFY_BYTES`.
    """

    def __init__(
        self,
        kb_dir: Path,
        device: str = "auto",
        encoder: Any = None,
        index: VectorIndex | None = None,
        verify: bool | None = None,
    ):
        kb_dir = Path(kb_dir)
        self.manifest = read_manifest(kb_dir)
        self.kind = get_kind(self.manifest["kind"])
        indexes = index_names(self.manifest)
        check_files(kb_dir, self.manifest, (*indexes, RECORDS) if index is None else (RECORDS,), verify)
        table = read_parquet(kb_dir / RECORDS, columns=["id", "passage"])
        self.ids: list[str] = table.column("id").to_pylist()
        self.passages: list[str] = table.column("passage").to_pylist()
        if len(self.ids) != self.manifest["count"]:
            raise DataError(kb_dir / RECORDS, f"holds {len(self.ids)} records, manifest says {self.manifest['count']}")
        self.dim: int = self.manifest["dim"]
        self.index_path = kb_dir / indexes[0] if len(indexes) == 1 else kb_dir
        self.device = resolve_device(device)
        if index is None:
            loaded = load_index([kb_dir / name for name in indexes], len(self.ids))
            check_dim(loaded.d, self.dim, self.index_path, "the index is built for")
            index = to_search_device(loaded, self.device)
        else:
            check_count(index, len(self.ids), kb_dir)
        self.index: VectorIndex = index
        # the manifest names a local encoder relative to the KB directory (`manifest_spec`)
        self.encoder = encoder or load_encoder(self.manifest["encoder"], self.kind, self.device, root=kb_dir)
        check_dim(getattr(self.encoder, "dim", None), self.dim, self.index_path, "the encoder embeds")

    @property
    def name(self) -> str:
        return self.kind.name

    def search(self, queries: list[str], images: list[QueryImage] | None = None, k: int = 5) -> list[list[Hit]]:
        if not queries:
            return []
        vectors = np.ascontiguousarray(self.kind.encode_queries(self.encoder, queries, images), dtype=np.float32)
        check_dim(vectors.shape[1], self.dim, self.index_path, "the encoder embedded the queries as")
        scores, rows = self.index.search(vectors, min(k, len(self.ids)))
        return [
            [
                Hit(self.kind.name, self.ids[row], float(score), self.passages[row])
                for score, row in zip(score_row, row_ids, strict=True)
                if row >= 0
            ]
            for score_row, row_ids in zip(scores, rows, strict=True)
        ]


class UnroutableKBs:
    """Routes to a KB that is not there: no hits, like any wrong route, and a warning once per KB name.

    A policy may pick any of the paper's retrievers, including one a profile did
    not build: one such step must not end a whole evaluation.
    """

    def __init__(self, where: str):
        self.where = where  # what holds the KBs, for the warning
        self.warned: set[str] = set()

    def no_hits(self, kb: str, available: list[str], queries: list[str]) -> list[list[Hit]]:
        if kb not in self.warned:
            self.warned.add(kb)
            log.warning("routed to KB '%s', which %s does not hold (it has %s): no hits", kb, self.where, available)
        return [[] for _ in queries]


class Retrievers:
    """All KBs of a profile, searched by kind name: the router's view of retrieval (see `UnroutableKBs`)."""

    def __init__(self, kb_root: Path, kinds: list[str], device: str = "auto"):
        self.kbs: dict[str, KnowledgeBase] = {}
        encoders: dict[str, Any] = {}  # text and table KBs usually share one encoder: load it once
        for name in kinds:
            kb_dir = Path(kb_root) / name
            spec_key = json.dumps(read_manifest(kb_dir)["encoder"], sort_keys=True)
            kb = KnowledgeBase(kb_dir, device=device, encoder=encoders.get(spec_key))
            encoders[spec_key] = kb.encoder
            self.kbs[name] = kb
        self.unroutable = UnroutableKBs("this process")

    def search(
        self, kb: str, queries: list[str], images: list[QueryImage] | None = None, k: int = 5
    ) -> list[list[Hit]]:
        if kb not in self.kbs:
            return self.unroutable.no_hits(kb, sorted(self.kbs), queries)
        return self.kbs[kb].search(queries, images, k)

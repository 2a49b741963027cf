"""Search built KBs: `search(kb, queries, images=None, k) -> hits`, batched.

A `KnowledgeBase` is self-describing: its manifest names the encoder that
embedded it, so queries are always embedded the same way as its documents.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from r1router.device import resolve_device
from r1router.errors import DataError
from r1router.io import read_parquet
from r1router.kb.build import MANIFEST
from r1router.kb.encoders import load_encoder
from r1router.kb.hit import Hit
from r1router.kb.index import VectorIndex, check_count, load_index, to_search_device
from r1router.kb.kinds import get_kind
from r1router.kb.kinds.base import QueryImage

log = logging.getLogger(__name__)


def read_manifest(kb_dir: Path) -> dict[str, Any]:
    manifest_path = Path(kb_dir) / MANIFEST
    if not manifest_path.is_file():
        raise DataError(manifest_path, "KB manifest not found; run `r1router kb build` first")
    return json.loads(manifest_path.read_text())


class KnowledgeBase:
    """One built KB loaded for search.

    `encoder` and `index` replace what the manifest and `index.faiss` would
    load: a shared encoder, or another `VectorIndex` (sharded, remote) over
    the same rows.
    """

    def __init__(
        self,
        kb_dir: Path,
        device: str = "auto",
        root: Path = Path("."),
        encoder: Any = None,
        index: VectorIndex | None = None,
    ):
        kb_dir = Path(kb_dir)
        self.manifest = read_manifest(kb_dir)
        self.kind = get_kind(self.manifest["kind"])
        table = read_parquet(kb_dir / "records.parquet", columns=["id", "passage"])
        self.ids: list[str] = table.column("id").to_pylist()
        self.passages: list[str] = table.column("passage").to_pylist()
        if len(self.ids) != self.manifest["count"]:
            raise DataError(
                kb_dir / "records.parquet", f"holds {len(self.ids)} records, manifest says {self.manifest['count']}"
            )
        self.device = resolve_device(device)
        if index is None:
            index = to_search_device(load_index(kb_dir / "index.faiss", len(self.ids)), self.device)
        else:
            check_count(index, len(self.ids), kb_dir)
        self.index: VectorIndex = index
        self.encoder = encoder or load_encoder(self.manifest["encoder"], self.kind, self.device, root)

    @property
    def name(self) -> str:
        return self.kind.name

    def search(self, queries: list[str], images: list[QueryImage] | None = None, k: int = 5) -> list[list[Hit]]:
        if not queries:
            return []
        vectors = np.ascontiguousarray(self.kind.encode_queries(self.encoder, queries, images), dtype=np.float32)
        scores, rows = self.index.search(vectors, min(k, len(self.ids)))
        return [
            [
                Hit(self.kind.name, self.ids[row], float(score), self.passages[row])
                for score, row in zip(score_row, row_ids, strict=True)
                if row >= 0
            ]
            for score_row, row_ids in zip(scores, rows, strict=True)
        ]


class Retrievers:
    """All KBs of a profile, searched by kind name: the router's view of retrieval.

    A route to a KB the profile did not build (a policy may pick any of the
    paper's retrievers) gets no hits, like any wrong route, and a warning once
    per KB name: one such step must not end a whole evaluation.
    """

    def __init__(self, kb_root: Path, kinds: list[str], device: str = "auto", root: Path = Path(".")):
        self.kbs: dict[str, KnowledgeBase] = {}
        encoders: dict[str, Any] = {}  # text and table KBs usually share one encoder: load it once
        for name in kinds:
            kb_dir = Path(kb_root) / name
            spec_key = json.dumps(read_manifest(kb_dir)["encoder"], sort_keys=True)
            kb = KnowledgeBase(kb_dir, device=device, root=root, encoder=encoders.get(spec_key))
            encoders[spec_key] = kb.encoder
            self.kbs[name] = kb
        self.missing_warned: set[str] = set()

    def search(
        self, kb: str, queries: list[str], images: list[QueryImage] | None = None, k: int = 5
    ) -> list[list[Hit]]:
        if kb not in self.kbs:
            if kb not in self.missing_warned:
                self.missing_warned.add(kb)
                log.warning(
                    "routed to KB '%s', which is not loaded (loaded: %s): it gets no hits", kb, sorted(self.kbs)
                )
            return [[] for _ in queries]
        return self.kbs[kb].search(queries, images, k)

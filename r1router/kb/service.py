"""A retrieval service: the built KBs loaded once in one process, searched over HTTP (`r1router kb serve`).

Evaluation, synthesis and `ask` each load every index and encoder themselves;
at paper scale (tens of GB of index, a GPU encoder) that is minutes and memory
per process, and the paper's own retriever re-reads its index shards at every
step. Search-R1's pattern instead: one service holds the KBs, and every
consumer sends batched queries to it (`RemoteRetrievers`, which has the
`Retrievers.search` signature, so the router loop cannot tell the difference).

API (JSON):
- `GET /health`: the loaded KBs with their kind, count and dimension.
- `POST /search` `{"kb", "queries": [...], "images": [path | null, ...] | null, "k"}` →
  `{"hits": [[{"kb", "id", "score", "text"}, ...], ...]}`, one list per query.
  Query images are file paths on the service's machine (it runs beside its
  callers, on loopback by default). A bad request is a 4xx whose `detail`
  says what is wrong; a KB that is not loaded is a 404 naming the loaded ones.

Searches run one at a time (a lock): the encoder and index are shared, and a
batch is already many queries, so concurrency would only contend for the
same cores or GPU. The service has no authentication: it binds to 127.0.0.1
unless told otherwise, like the Prefect server the project starts.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from r1router.errors import R1RouterError
from r1router.hashing import text_sha256
from r1router.kb.build import MANIFEST
from r1router.kb.hit import Hit
from r1router.kb.kinds.base import QueryImage
from r1router.kb.retriever import Retrievers, UnroutableKBs, read_manifest

MAX_QUERIES = 1024  # per request: bounds the memory one request can take
MAX_K = 100


class SearchRequest(BaseModel):
    kb: str
    queries: Annotated[list[str], Field(min_length=1, max_length=MAX_QUERIES)]
    images: list[str | None] | None = None
    k: Annotated[int, Field(ge=1, le=MAX_K)] = 5


def create_app(retrievers: Retrievers) -> FastAPI:
    """The service over already loaded KBs (loaded once, by the caller)."""
    app = FastAPI(title="r1router retrieval", docs_url=None, redoc_url=None)
    lock = threading.Lock()

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "kbs": {
                name: {
                    "kind": kb.kind.name,
                    "count": len(kb.ids),
                    "dim": kb.dim,
                    "manifest": manifest_digest(kb.manifest),
                }
                for name, kb in retrievers.kbs.items()
            }
        }

    @app.post("/search")
    def search(request: SearchRequest) -> dict[str, Any]:
        if request.kb not in retrievers.kbs:
            raise HTTPException(404, f"KB '{request.kb}' is not loaded (loaded: {sorted(retrievers.kbs)})")
        if request.images is not None:
            if len(request.images) != len(request.queries):
                raise HTTPException(
                    422, f"{len(request.images)} images for {len(request.queries)} queries: give one per query"
                )
            if missing := [image for image in request.images if image is not None and not Path(image).is_file()]:
                raise HTTPException(422, f"query image not found on the service's machine: {missing[0]}")
        with lock:
            try:
                hits = retrievers.search(request.kb, request.queries, request.images, request.k)
            except R1RouterError as error:  # a record or image the KB refuses: the caller's to fix
                raise HTTPException(422, str(error)) from None
        return {"hits": [[hit.to_dict() for hit in row] for row in hits]}

    return app


def manifest_digest(manifest: dict[str, Any]) -> str:
    """What identifies a built KB's content (records, index, encoder hashes are all in its manifest)."""
    return text_sha256(json.dumps(manifest, sort_keys=True))


def open_retrievers(kb_root: Path, kinds: list[str], device: str, service: str | None) -> Retrievers | RemoteRetrievers:
    """The KBs in `kb_root`, loaded here, or searched through `service` after checking it serves these very KBs.

    A service started on other KBs (another checkout, an older build) would
    answer with hits of the wrong corpus under a cache key that says otherwise:
    every KB asked for must be served, with the manifest found in `kb_root`.
    """
    if service is None:
        return Retrievers(Path(kb_root), kinds, device=device)
    remote = RemoteRetrievers(service)
    for name in kinds:
        served = remote.kbs.get(name)
        local = Path(kb_root) / name / MANIFEST
        if served is None:
            raise RetrievalServiceError(
                f"retrieval service {service} does not serve KB '{name}' (serves {sorted(remote.kbs)})"
            )
        if served["manifest"] != manifest_digest(read_manifest(local.parent)):
            raise RetrievalServiceError(
                f"retrieval service {service} serves another '{name}' KB than {local.parent}: "
                "restart it on these KBs (`r1router kb serve --kb-root ...`)"
            )
    return remote


class RetrievalServiceError(R1RouterError):
    """The retrieval service refused a request or could not be reached."""


class RemoteRetrievers:
    """`Retrievers.search` against a running service: what the loop needs, without loading any KB here."""

    def __init__(self, url: str, timeout_s: float = 120.0):
        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, timeout=timeout_s, follow_redirects=False)
        try:
            self.kbs: dict[str, Any] = self.client.get("/health").raise_for_status().json()["kbs"]
        except httpx.HTTPError as error:
            raise RetrievalServiceError(f"retrieval service {self.url}: not reachable ({error})") from None
        self.unroutable = UnroutableKBs(f"the retrieval service {self.url}")

    def search(
        self, kb: str, queries: list[str], images: list[QueryImage] | None = None, k: int = 5
    ) -> list[list[Hit]]:
        if not queries:
            return []
        if kb not in self.kbs:
            return self.unroutable.no_hits(kb, sorted(self.kbs), queries)
        if images is not None and any(image is not None and not isinstance(image, str | Path) for image in images):
            raise RetrievalServiceError("the retrieval service takes query images as file paths, not decoded images")
        paths = None if images is None else [None if image is None else str(image) for image in images]
        body = {"kb": kb, "queries": queries, "images": paths, "k": k}
        try:
            response = self.client.post("/search", json=body)
        except httpx.HTTPError as error:
            raise RetrievalServiceError(f"retrieval service {self.url}: {error}") from None
        if response.status_code != 200:
            raise RetrievalServiceError(
                f"retrieval service {self.url}: HTTP {response.status_code}: {_detail(response)}"
            )
        return [[Hit(**hit) for hit in row] for row in response.json()["hits"]]

    def close(self) -> None:
        self.client.close()


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:300]
    return detail if isinstance(detail, str) else str(detail)[:300]

"""The retrieval service: real KBs (the demo's MiniLM encoder), a real uvicorn server on loopback.

Hits through the service are the in-process hits; bad requests are 4xx with a
message; a client never searches a service that holds other KBs than its own.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from r1router.kb.build import build_kb
from r1router.kb.index import IndexConfig
from r1router.kb.retriever import Retrievers
from r1router.kb.service import RetrievalServiceError, create_app, open_retrievers

TOPICS = ["volcano", "river", "castle", "harbour", "glacier", "desert", "forest", "canyon", "island", "lagoon"]
QUERIES = ["Where does the lava come from?", "a frozen river of ice", "an old fortress", "boats and ships"]


def build(root: Path, encoder: Path, topics: list[str]) -> Path:
    rows = [{"id": f"p{i}", "text": f"A passage about the {topic}."} for i, topic in enumerate(topics)]
    (root / "input.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (root / "input.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    spec = {"family": "text", "path": str(encoder)}
    build_kb("text", root / "input.jsonl", root / "kb" / "text", spec, IndexConfig(), shard_dir=root / "shards")
    return root / "kb"


@pytest.fixture(scope="module")
def kb_root(tmp_path_factory, text_encoder_dir) -> Path:
    return build(tmp_path_factory.mktemp("service"), text_encoder_dir, TOPICS)


@pytest.fixture(scope="module")
def local(kb_root) -> Retrievers:
    return Retrievers(kb_root, ["text"], device="cpu")


@pytest.fixture(scope="module")
def served(local):
    """A real uvicorn server on a free loopback port, for as long as the module's tests run."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(local), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def assert_same_hits(got, expected):
    """Same ids and texts in the same order; scores equal up to the 6 decimals the service sends."""
    assert [[(hit.id, hit.text) for hit in row] for row in got] == [
        [(hit.id, hit.text) for hit in row] for row in expected
    ]
    assert [hit.score for row in got for hit in row] == pytest.approx(
        [hit.score for row in expected for hit in row], abs=1e-6
    )


def test_bad_requests_are_4xx_with_a_message(local):
    client = TestClient(create_app(local))
    health = client.get("/health").json()["kbs"]["text"]
    assert (health["kind"], health["count"], health["dim"]) == ("text", len(TOPICS), 384)
    cases = [
        ({"kb": "table", "queries": ["x"]}, 404, "KB 'table' is not loaded (loaded: ['text'])"),
        ({"kb": "text", "queries": ["x"], "k": 0}, 422, "greater than or equal to 1"),
        ({"kb": "text", "queries": []}, 422, "at least 1 item"),
        ({"kb": "text", "queries": ["x", "y"], "images": [None]}, 422, "1 images for 2 queries"),
        ({"kb": "text", "queries": ["x"], "images": ["/no/such.png"]}, 422, "not found on the service's machine"),
        ({"queries": ["x"]}, 422, "Field required"),
    ]
    for body, status, message in cases:
        response = client.post("/search", json=body)
        assert response.status_code == status, (body, response.text)
        assert message in json.dumps(response.json()["detail"]), response.text


def test_remote_hits_are_the_in_process_hits_under_concurrent_clients(local, kb_root, served):
    expected = local.search("text", QUERIES, None, 3)
    remote = open_retrievers(kb_root, ["text"], "cpu", served)

    def ask(_: int):
        return remote.search("text", QUERIES, None, 3)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(12)))  # 4 clients at once, 12 batched requests
    for answer in answers:
        assert_same_hits(answer, expected)
    assert expected[0][0].text == "A passage about the volcano."
    assert remote.search("image", ["x"], None, 3) == [[]]  # a KB not served: no hits, as in-process


def test_a_service_holding_other_kbs_is_refused(tmp_path, text_encoder_dir, served):
    other = build(tmp_path, text_encoder_dir, list(reversed(TOPICS)))
    with pytest.raises(RetrievalServiceError, match="serves another 'text' KB than"):
        open_retrievers(other, ["text"], "cpu", served)
    with pytest.raises(RetrievalServiceError, match=r"does not serve KB 'table' \(serves \['text'\]\)"):
        open_retrievers(other, ["table"], "cpu", served)
    with pytest.raises(RetrievalServiceError, match="not reachable"):
        open_retrievers(other, ["text"], "cpu", "http://127.0.0.1:1")

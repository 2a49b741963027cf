"""Two `r1router kb build` processes started together: nothing mixed, the loser refused with a clear message.

Real processes with the demo's real text encoder (all-MiniLM-L6-v2), so the
two builds overlap in loading, embedding and swapping as a user's would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from r1router.kb.retriever import KnowledgeBase

pytestmark = pytest.mark.slow


def passages(path: Path, prefix: str, topics: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": f"{prefix}{i}", "text": f"Passage {i} is about the {topic} and its long history."}
        for i, topic in enumerate(topics)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


A = ["volcano", "river", "castle", "harbour", "glacier", "desert", "forest", "canyon"] * 8
B = ["lighthouse", "orchard", "monastery", "railway", "bazaar", "quarry"] * 10


def start(encoder: Path, input_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    args = ["kb", "build", "--kind", "text", "--input", str(input_path), "--out", str(out), "--encoder", str(encoder)]
    return subprocess.Popen(
        [sys.executable, "-m", "r1router.cli", *args, "--device", "cpu", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str]]:
    return [(proc.wait(timeout=300), proc.communicate()[1]) for proc in procs]


def assert_consistent(kb_dir: Path, input_path: Path) -> None:
    """The KB holds exactly its input's records, and each record's vector is its own (search finds it first)."""
    expected = [json.loads(line) for line in input_path.read_text().splitlines()]
    kb = KnowledgeBase(kb_dir, verify=True)
    assert list(kb.ids) == [row["id"] for row in expected]
    firsts = kb.search([row["text"] for row in expected], None, k=1)
    assert [hits[0].id for hits in firsts] == [row["id"] for row in expected]
    assert all(hits[0].score > 0.99 for hits in firsts)


def test_two_builds_into_one_out_one_wins_the_other_is_refused(tmp_path, text_encoder_dir):
    a, b = passages(tmp_path / "a.jsonl", "a", A), passages(tmp_path / "b.jsonl", "b", B)
    out = tmp_path / "kb"
    results = finish([start(text_encoder_dir, a, out), start(text_encoder_dir, b, out)])
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    [(_, loser)] = [(code, err) for code, err in results if code == 2]
    assert f"error: {out}: already holds a KB; replace it with --force" in loser
    assert "Traceback" not in loser
    winner = a if KnowledgeBase(out).ids[0].startswith("a") else b
    assert_consistent(out, winner)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl", "kb", "kb.shards"]


def test_two_builds_in_different_folders_sharing_one_cache_each_get_their_own_vectors(tmp_path, text_encoder_dir):
    a = passages(tmp_path / "one" / "a.jsonl", "a", A)
    b = passages(tmp_path / "two" / "b.jsonl", "b", B)
    cache = tmp_path / "cache"
    procs = [
        start(text_encoder_dir, a, tmp_path / "one" / "kb", "--shard-dir", str(cache)),
        start(text_encoder_dir, b, tmp_path / "two" / "kb", "--shard-dir", str(cache)),
    ]
    assert [code for code, _ in finish(procs)] == [0, 0]
    assert_consistent(tmp_path / "one" / "kb", a)
    assert_consistent(tmp_path / "two" / "kb", b)
    assert len([entry for entry in cache.iterdir() if entry.is_dir()]) == 2  # one cache entry per content

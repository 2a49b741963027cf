"""`r1router corpus`: a user's own file → shards `kb build` takes; a user's files are never touched."""

import json
import subprocess
import sys

import pytest

from r1router.corpus.shards import read_manifest


def r1router(*args):
    return subprocess.run([sys.executable, "-m", "r1router.cli", *args], capture_output=True, text=True)


def test_corpus_release_writes_the_three_kbs_corpora_and_kb_build_takes_one(released_sample, tmp_path):
    out = tmp_path / "corpus"
    proc = r1router("corpus", "release", "--input", str(released_sample), "--out", str(out), "--shard-size", "100")
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert set(counts) == {"text", "table", "image"}
    for kind in counts:
        assert read_manifest(out / kind)["records"] == counts[kind]["kept"] > 0
    again = r1router("corpus", "release", "--input", str(released_sample), "--out", str(out))
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "already holds a finished corpus" in again.stderr


def test_an_out_holding_a_users_files_is_refused_and_left_alone(released_sample, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    proc = r1router("corpus", "owt", "--input", str(released_sample), "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "is not empty and not a corpus in progress" in proc.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("command", ["wiki", "owt", "mbeir", "release"])
def test_a_missing_input_is_a_usage_error(command, tmp_path):
    proc = r1router("corpus", command, "--input", str(tmp_path / "absent"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()

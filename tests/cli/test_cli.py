"""The console script: clear one-line errors, and the world/kb verbs wired to the core."""

import json
import subprocess
import sys

import pytest


def r1router(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "r1router.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_the_pipeline_verbs():
    proc = r1router("--help")
    assert proc.returncode == 0
    for verb in ("world", "models", "kb"):
        assert verb in proc.stdout


def test_bad_kb_file_is_one_clear_error_naming_file_line_field(tmp_path):
    bad = tmp_path / "passages.jsonl"
    bad.write_text(
        json.dumps({"id": "a", "title": "A", "text": "x"}) + "\n" + json.dumps({"id": "b", "title": "B"}) + "\n"
    )
    proc = r1router("kb", "build", "--kind", "text", "--input", str(bad), "--out", str(tmp_path / "kb"))
    assert proc.returncode == 2
    assert f"error: {bad}, line 2, field 'text': missing required field" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "faiss.loader" not in proc.stderr  # no ModuleNotFoundError lines from faiss's CPU-variant probing
    assert not (tmp_path / "kb").exists()


@pytest.mark.slow
def test_world_build_is_deterministic_through_the_cli(tmp_path):
    for name in ("a", "b"):
        proc = r1router("world", "build", "--seed", "3", "--size", "tiny", "--out", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert counts["kb"]["text"] > 0
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)


def test_repro_outside_a_dvc_project_fails_before_writing_anything(tmp_path):
    proc = r1router("repro", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"error: {tmp_path.resolve()}: not a DVC project" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no lock file, no mlflow.db, no .prefect

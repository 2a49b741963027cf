import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

from r1router.errors import DataError
from r1router.io import atomic_dir, atomic_path, read_jsonl, read_parquet, write_json, write_jsonl, write_parquet


def test_failed_write_leaves_old_file(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_killed_writer_never_leaves_torn_file(tmp_path):
    target = tmp_path / "big.jsonl"
    write_jsonl(target, [{"i": 0}])
    script = (
        "import os, sys\n"
        "from r1router.io import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    with open(tmp, 'w') as h:\n"
        "        h.write('{\"i\": 1}\\n' * 1000); h.flush()\n"
        "        os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9
    assert read_jsonl(target) == [{"i": 0}]


def test_atomic_dir_swaps_whole_directory(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.bin").write_bytes(b"old")
    with pytest.raises(ValueError), atomic_dir(target) as tmp:
        (tmp / "a.bin").write_bytes(b"new")
        raise ValueError
    assert (target / "a.bin").read_bytes() == b"old"
    with atomic_dir(target) as tmp:
        (tmp / "b.bin").write_bytes(b"new")
    assert sorted(os.listdir(target)) == ["b.bin"]
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_jsonl_error_names_file_and_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2\n')
    with pytest.raises(DataError, match=r"q\.jsonl, line 3: malformed JSON"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match="line 2: expected a JSON object"):
        read_jsonl(path)


def test_truncated_parquet_is_refused_by_name(tmp_path):
    path = tmp_path / "kb.parquet"
    write_parquet(path, pa.table({"id": [str(i) for i in range(1000)]}))
    assert read_parquet(path).num_rows == 1000
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"kb\.parquet: not a readable Parquet file"):
        read_parquet(path)


def test_files_saved_through_mkstemp_come_out_with_the_umasks_modes(tmp_path):
    """safetensors and friends save via mkstemp (0600); a saved model must be readable like any file."""
    import tempfile

    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "model") as tmp:
            fd, name = tempfile.mkstemp(dir=tmp)
            os.close(fd)
            os.replace(name, tmp / "model.safetensors")
            (tmp / "sub").mkdir(mode=0o700)
    finally:
        os.umask(old)
    assert (tmp_path / "model" / "model.safetensors").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model" / "sub").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755


def test_atomic_dir_of_dot_swaps_in_a_real_sibling(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    monkeypatch.chdir(target)
    with atomic_dir(".") as tmp:
        (tmp / "a.txt").write_text("new")
    assert tmp.parent == tmp_path  # not a dot-named temp dir inside the target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (target / "a.txt").read_text() == "new"


def test_a_non_utf8_byte_is_reported_with_its_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"line 2: not UTF-8 \(byte 0xe9 at column 12\)"):
        read_jsonl(path)

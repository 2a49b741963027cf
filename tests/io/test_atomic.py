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

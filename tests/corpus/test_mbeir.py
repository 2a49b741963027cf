"""M-BEIR candidate pool corpus step: UniIR's pool lines become image records, images checked, bad lines located."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from r1router.corpus import mbeir
from r1router.corpus.mbeir import BadLine, build_mbeir_corpus, mbeir_record
from r1router.corpus.shards import iter_corpus, read_manifest
from r1router.errors import DataError
from r1router.kb.kinds import KINDS
from r1router.kb.records import load_records, records_base_dir


def _jpeg(path: Path, colour: tuple[int, int, int] = (90, 140, 200)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), colour).save(path, "JPEG")


def _webqa_image(n: int) -> dict:
    """An `image,text` candidate as UniIR's WebQA preprocessor writes it."""
    return {
        "txt": f"Photo {n} of the harbour.",
        "img_path": f"mbeir_images/webqa_images/{n}.jpg",
        "modality": "image,text",
        "did": f"2:{n}",
        "src_content": json.dumps({"image_id": str(n)}),
    }


def _webqa_text(n: int) -> dict:
    return {"txt": f"Fact {n} about the harbour.", "modality": "text", "did": f"2:{n}", "src_content": "{}"}


def _image_only(n: int) -> dict:
    """An `image` candidate as UniIR's MSCOCO preprocessor writes it: no text."""
    return {"txt": None, "img_path": f"mbeir_images/webqa_images/{n}.jpg", "modality": "image", "did": f"9:{n}"}


def _pool(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


@pytest.fixture
def mbeir_root(tmp_path) -> Path:
    """An M-BEIR root holding real JPEGs for candidates 1..6."""
    root = tmp_path / "M-BEIR"
    for n in range(1, 7):
        _jpeg(root / "mbeir_images" / "webqa_images" / f"{n}.jpg", (40 * n, 30, 30))
    return root


def test_pool_with_images_becomes_image_records_that_the_kb_accepts(tmp_path, mbeir_root):
    pool = _pool(tmp_path / "pool.jsonl", [_webqa_text(10), _webqa_image(1), "", _image_only(2), _webqa_image(3)])
    out = tmp_path / "corpus" / "webqa"
    manifest = build_mbeir_corpus(pool, out, images_root=mbeir_root)
    records = [(path, row, record) for path, row, record in iter_corpus(out)]
    assert [r["id"] for _, _, r in records] == ["2:10", "2:1", "2:3"]
    text, image = records[0][2], records[1][2]
    assert (text["text"], text["caption"], text["modality"], text["image"]) == (
        "Fact 10 about the harbour.",
        "Fact 10 about the harbour.",
        "text",
        None,
    )
    assert image["image"] == "mbeir_images/webqa_images/1.jpg"  # relative to the M-BEIR root, where it stays
    assert manifest["image_root"] == str(mbeir_root.resolve())
    assert manifest["counts"] == {"in": 4, "kept": 3, "dropped.no_text": 1}
    for path, row, record in records:
        KINDS["image"].validate(record, path, row, mbeir_root)
    moved = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(out, moved)  # the pipeline links a finished build into its output: paths must not depend on it
    assert records_base_dir(moved) == mbeir_root.resolve()
    assert [r.get("image") for r in load_records(moved, KINDS["image"])] == [
        None,
        "mbeir_images/webqa_images/1.jpg",
        "mbeir_images/webqa_images/3.jpg",
    ]


def test_an_image_symlinked_out_of_the_root_is_refused(tmp_path, mbeir_root):
    outside = tmp_path / "outside.jpg"
    _jpeg(outside)
    (mbeir_root / "mbeir_images" / "webqa_images" / "7.jpg").symlink_to(outside)
    pool = _pool(tmp_path / "pool.jsonl", [_webqa_image(7)])
    with pytest.raises(BadLine, match="outside the M-BEIR root") as caught:
        build_mbeir_corpus(pool, tmp_path / "out", images_root=mbeir_root)
    assert (caught.value.reason, caught.value.line, caught.value.field) == ("bad_img_path", 1, "img_path")


def test_without_images_root_candidates_keep_their_text(tmp_path):
    pool = _pool(tmp_path / "pool.jsonl", [_webqa_image(1), _webqa_text(2)])
    manifest = build_mbeir_corpus(pool, tmp_path / "out")
    assert [r["image"] for _, _, r in iter_corpus(tmp_path / "out")] == [None, None]
    assert manifest["image_root"] is None and records_base_dir(tmp_path / "out") == tmp_path / "out"
    assert manifest["counts"] == {"in": 2, "kept": 2, "images_absent": 1}


@pytest.mark.parametrize(
    ("line", "reason", "field"),
    [
        ("{not json", "not_json", None),
        ({"img_path": None, "modality": "text", "did": "2:50"}, "bad_txt", "txt"),
        ({**_webqa_text(50), "txt": ""}, "bad_txt", "txt"),
        ({**_webqa_text(50), "modality": "video"}, "bad_modality", "modality"),
        ({**_webqa_text(50), "did": ""}, "bad_did", "did"),
        (_webqa_text(1), "duplicate_did", "did"),
        ({**_webqa_image(50), "img_path": "../../etc/passwd"}, "bad_img_path", "img_path"),
        ({**_webqa_text(50), "img_path": "mbeir_images/x.jpg"}, "bad_img_path", "img_path"),
        (_webqa_image(99), "bad_image", "img_path"),  # no such file
        (_webqa_image(6), "bad_image", "img_path"),  # not an image (see below)
    ],
)
def test_a_bad_line_is_located_or_skipped_and_counted(tmp_path, mbeir_root, line, reason, field):
    (mbeir_root / "mbeir_images" / "webqa_images" / "6.jpg").write_text("<html>404</html>")
    pool = _pool(tmp_path / "pool.jsonl", [_webqa_text(1), _webqa_image(2), line, _webqa_text(3)])
    with pytest.raises(DataError) as caught:
        build_mbeir_corpus(pool, tmp_path / "failed", images_root=mbeir_root)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(pool), 3, field)
    assert isinstance(caught.value, BadLine) and caught.value.reason == reason
    manifest = build_mbeir_corpus(pool, tmp_path / "skipped", images_root=mbeir_root, bad_lines="skip")
    assert manifest["counts"] == {"in": 4, "kept": 3, f"dropped.{reason}": 1}


def test_a_decompression_bomb_is_a_clear_error(tmp_path, mbeir_root, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    pool = _pool(tmp_path / "pool.jsonl", [_webqa_image(1)])
    with pytest.raises(BadLine, match="decompression bomb"):
        build_mbeir_corpus(pool, tmp_path / "out", images_root=mbeir_root)


def test_mbeir_record_alone_needs_no_pool():
    """The release profile builds records from released `tir` passages through the same code."""
    raw = {"txt": "Sule Pagoda.", "img_path": None, "modality": "text", "did": "tir-0123"}
    assert mbeir_record(raw) == {
        "id": "tir-0123",
        "text": "Sule Pagoda.",
        "caption": "Sule Pagoda.",
        "modality": "text",
        "image": None,
    }
    assert mbeir_record(_image_only(1)) is None


def test_a_killed_run_resumes_to_identical_bytes_and_still_catches_duplicates(tmp_path, mbeir_root, monkeypatch):
    monkeypatch.setattr(mbeir, "LINES_PER_UNIT", 2)
    lines = [_webqa_image(n) if n <= 6 else _webqa_text(n) for n in range(1, 12)] + [_webqa_text(2)]
    pool = _pool(tmp_path / "pool.jsonl", lines)
    clean = build_mbeir_corpus(pool, tmp_path / "clean", images_root=mbeir_root, bad_lines="skip", shard_size=3)
    assert clean["counts"]["dropped.duplicate_did"] == 1  # "2:2" again on the last line

    real = mbeir.mbeir_record

    def dies_at_line_9(raw, **kwargs):
        if kwargs["line"] == 9:
            raise KeyboardInterrupt
        return real(raw, **kwargs)

    monkeypatch.setattr(mbeir, "mbeir_record", dies_at_line_9)
    with pytest.raises(KeyboardInterrupt):
        build_mbeir_corpus(pool, tmp_path / "resumed", images_root=mbeir_root, bad_lines="skip", shard_size=3)
    assert (tmp_path / "resumed" / "_progress.json").is_file()
    assert not (tmp_path / "resumed" / "_manifest.json").exists()
    monkeypatch.setattr(mbeir, "mbeir_record", real)
    build_mbeir_corpus(pool, tmp_path / "resumed", images_root=mbeir_root, bad_lines="skip", shard_size=3)
    shards = {p.name: p.read_bytes() for p in sorted((tmp_path / "clean").iterdir())}
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "resumed").iterdir())} == shards
    assert read_manifest(tmp_path / "resumed")["counts"]["dropped.duplicate_did"] == 1

"""The benchmark images step: flattening OVEN's tree, downloading Dyn-VQA's, decoding WebQA's; nothing lost unseen."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from r1router.benchmarks.images import assemble_images
from r1router.errors import ConfigError, DataError
from r1router.io.images import verify_image


def image_bytes(fmt: str = "JPEG", colour: tuple[int, int, int] = (200, 30, 30), size: int = 24) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, fmt)
    return out.getvalue()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_infoseek_flattens_ovens_sharded_tree_and_reports_what_is_missing(tmp_path):
    oven = tmp_path / "mbeir_images" / "oven_images"
    for image_id in ("oven_00106796", "oven_04990048"):
        (oven / image_id[-8:-6]).mkdir(parents=True, exist_ok=True)
        (oven / image_id[-8:-6] / f"{image_id}.jpg").write_bytes(image_bytes())
    (oven / "05" / "oven_05000001.jpg").parent.mkdir(parents=True)
    (oven / "05" / "oven_05000001.jpg").write_text("<html>not an image</html>")
    questions = write_jsonl(
        tmp_path / "infoseek_val.jsonl",
        [
            {"data_id": "q0", "image_id": "oven_00106796"},
            {"data_id": "q1", "image_id": "oven_04990048"},
            {"data_id": "q2", "image_id": "oven_00106796"},  # asked twice, placed once
            {"data_id": "q3", "image_id": "oven_05000001"},
            {"data_id": "q4", "image_id": "oven_09999999"},
        ],
    )
    out = tmp_path / "images" / "infoseek"
    result = assemble_images("infoseek", questions, {"oven_images": str(oven)}, out)
    assert result["wanted"] == 4 and result["present"] == 2
    assert result["missing"] == ["oven_09999999"] and result["bad"] == ["oven_05000001"]
    assert "not a decodable image" in result["reasons"]["oven_05000001"]
    assert sorted(p.name for p in out.iterdir()) == ["oven_00106796.jpg", "oven_04990048.jpg"]
    source = oven / "00" / "oven_00106796.jpg"
    assert (out / "oven_00106796.jpg").stat().st_ino == source.stat().st_ino  # hard-linked, not copied
    assert json.loads((tmp_path / "images" / "infoseek.report.json").read_text()) == result


def test_fail_policy_names_the_question_line_after_writing_the_report(tmp_path):
    questions = write_jsonl(tmp_path / "q.jsonl", [{"image_id": "oven_00000001"}, {"image_id": "oven_00000002"}])
    report = tmp_path / "report.json"
    with pytest.raises(DataError) as caught:
        source = {"oven_images": str(tmp_path)}
        assemble_images("infoseek", questions, source, tmp_path / "out", on_missing="fail", report=report)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(questions), 1, "image_id")
    assert json.loads(report.read_text())["missing"] == ["oven_00000001", "oven_00000002"]


class _Images(BaseHTTPRequestHandler):
    """Serves JPEG and PNG bytes, a 404, an HTML page, and a path that fails once before it works."""

    flaky_calls = 0

    def do_GET(self) -> None:
        if self.path == "/flaky.jpeg":
            type(self).flaky_calls += 1
            if type(self).flaky_calls == 1:
                self.send_error(503)
                return
        bodies = {
            "/a/image_1.jpeg": image_bytes(),
            "/a/image_7.jpeg": image_bytes("PNG", (10, 200, 10)),  # not a JPEG: re-encoded
            "/flaky.jpeg": image_bytes(colour=(0, 0, 255)),
            "/error-page.jpeg": b"<html>Access denied</html>",
        }
        if self.path not in bodies:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(bodies[self.path])))
        self.end_headers()
        self.wfile.write(bodies[self.path])

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass


@pytest.fixture
def image_server() -> Iterator[str]:
    _Images.flaky_calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_dyn_vqa_downloads_each_question_image_under_its_question_number(tmp_path, image_server):
    """The image of question `enN` is saved as `N.jpg`, whatever number its URL carries."""
    urls = ["/a/image_1.jpeg", "/a/image_7.jpeg", "/gone.jpeg", "/error-page.jpeg", "/flaky.jpeg"]
    (tmp_path / "omnisearch").mkdir()
    omnisearch = write_jsonl(
        tmp_path / "omnisearch" / "DynVQA_en.202412.jsonl",
        [{"image_url": image_server + url, "question_id": f"en{n}"} for n, url in enumerate(urls, start=1)],
    )
    released = write_jsonl(
        tmp_path / "DynVQA_en.202412.jsonl", [{"question_id": f"en{n}", "image_id": n} for n in range(1, 6)]
    )
    source = {"omnisearch_file": str(omnisearch), "retries": 2, "retry_delay_seconds": 0, "http_timeout_seconds": 5}
    out = tmp_path / "dyn_vqa"
    result = assemble_images("dyn_vqa", released, source, out)
    assert result["present"] == 3 and result["missing"] == ["3"] and result["bad"] == ["4"]
    assert "HTTP 404" in result["reasons"]["3"]
    assert sorted(p.name for p in out.iterdir()) == ["1.jpg", "2.jpg", "5.jpg"]
    assert verify_image(out / "2.jpg", "x") == "JPEG"
    with Image.open(out / "2.jpg") as image:
        assert image.getpixel((12, 12))[1] > 150  # the PNG's green, now a JPEG

    rerun = assemble_images("dyn_vqa", released, source, out)  # only the two still missing are fetched again
    assert rerun["present"] == 3 and _Images.flaky_calls == 2


def test_dyn_vqa_needs_omnisearchs_urls(tmp_path):
    released = write_jsonl(tmp_path / "DynVQA_en.202412.jsonl", [{"question_id": "en1", "image_id": 1}])
    with pytest.raises(DataError) as caught:
        assemble_images("dyn_vqa", released, {}, tmp_path / "out")
    assert (caught.value.line, caught.value.field) == (1, "image_url")
    assert "OmniSearch" in str(caught.value)


def test_webqa_decodes_base64_tsv_lines(tmp_path):
    tsv = tmp_path / "imgs.tsv"
    lines = [
        ("30037649", base64.b64encode(image_bytes()).decode()),
        ("99999999", base64.b64encode(image_bytes()).decode()),  # not asked about: never decoded
        ("30198884", base64.b64encode(image_bytes("PNG")).decode()),
        ("30113892", base64.b64encode(b"plain text, not an image").decode()),
        ("30319297", "***not base64***"),
    ]
    tsv.write_text("".join(f"{i}\t{b}\n" for i, b in lines), encoding="ascii")
    ids = ["30037649", "30198884", "30113892", "30319297", "30121721"]
    questions = write_jsonl(tmp_path / "webqa_val.jsonl", [{"image_id": i} for i in ids])
    result = assemble_images("webqa", questions, {"imgs_tsv": str(tsv)}, tmp_path / "webqa")
    assert result["present"] == 2
    assert result["bad"] == ["30113892", "30319297"] and result["missing"] == ["30121721"]
    assert sorted(p.name for p in (tmp_path / "webqa").iterdir()) == ["30037649.jpg", "30198884.jpg"]
    assert verify_image(tmp_path / "webqa" / "30198884.jpg", "x") == "JPEG"


def test_webqa_from_mbeirs_image_folder(tmp_path):
    folder = tmp_path / "mbeir_images" / "webqa_images"
    folder.mkdir(parents=True)
    (folder / "30037649.jpg").write_bytes(image_bytes())
    questions = write_jsonl(tmp_path / "webqa_val.jsonl", [{"image_id": "30037649"}, {"image_id": "1"}])
    result = assemble_images("webqa", questions, {"webqa_images": str(folder)}, tmp_path / "webqa")
    assert (result["present"], result["missing"]) == (1, ["1"])


def test_source_config_is_checked(tmp_path):
    questions = write_jsonl(tmp_path / "q.jsonl", [{"image_id": "1"}])
    with pytest.raises(ConfigError, match="unknown key"):
        assemble_images("webqa", questions, {"oven_images": "x"}, tmp_path / "out")
    with pytest.raises(ConfigError, match="webqa_images or imgs_tsv"):
        assemble_images("webqa", questions, {}, tmp_path / "out")
    with pytest.raises(ConfigError, match="no image source"):
        assemble_images("tabfact", questions, {}, tmp_path / "out")


def test_a_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = tmp_path / "big.jpg"
    path.write_bytes(image_bytes(size=64))
    with pytest.raises(DataError, match="decompression bomb"):
        verify_image(path, path)


def test_a_truncated_jpeg_is_not_decodable(tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(image_bytes(size=256)[:400])
    with pytest.raises(DataError, match="not a decodable image"):
        verify_image(path, path)

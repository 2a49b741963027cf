"""The benchmark images step: the flat `{root}/{image_id}.jpg` folder the paper's code reads, from the images' sources.

R1-Router reads a visual question's image as `{image_root}/{image_id}.jpg`
(its `src/data_synthesis/retriever.py`), but no source ships that folder:

- InfoSeek's images are OVEN's, which M-BEIR stores sharded as
  `oven_images/{image_id[-8:-6]}/{image_id}.jpg` (UniIR's
  `src/data/preprocessing/infoseek_data_preprocessor.py`); they are
  hard-linked (else copied) into the flat folder.
- Dyn-VQA's are on a web server: OmniSearch's `DynVQA_en.202412.jsonl` gives
  each question an `image_url`. R1-Router's released copy of that file drops
  `image_url` and names the image by `image_id` N, the number of its
  `question_id` `enN` (the number in the URL is a different one), so the URLs
  are read from OmniSearch's file (`source.omnisearch_file`) and matched by
  `question_id`.
- WebQA's are M-BEIR's `webqa_images/{image_id}.jpg`, or WebQA's own
  `imgs.tsv` (`image_id<TAB>base64` lines, as UniIR's
  `webqa_data_preprocessor.py` reads it), decoded.

Every image is decoded before it is placed (a download that is an error page
is not an image), written atomically, and re-encoded only when it is not
already a JPEG. An image that cannot be had is never skipped silently: it is
counted as missing or bad, by id and reason, in the step's report.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from r1router.errors import ConfigError, DataError
from r1router.io import atomic_path, iter_jsonl, write_bytes, write_json
from r1router.io.images import verify_image
from r1router.progress import Progress

SOURCE_KEYS: dict[str, tuple[str, ...]] = {  # benchmark → the keys its `source` may have
    "infoseek": ("oven_images",),
    "dyn_vqa": ("omnisearch_file", "http_timeout_seconds", "retries", "retry_delay_seconds"),
    "webqa": ("webqa_images", "imgs_tsv"),
}
ON_MISSING = ("record", "fail")
JPEG_QUALITY = 95
_DYN_VQA_QID = re.compile(r"en(\d+)")


@dataclass(frozen=True)
class Unavailable:
    """An image the source does not have (missing), or has in a form that cannot be an image (bad), and why."""

    reason: str
    bad: bool = False


ImageContent = Path | bytes | Unavailable


def _as_jpeg(data: bytes, where: str) -> bytes:
    """`data` as it is when it is a JPEG, else re-encoded as one (RGB)."""
    if verify_image(data, where) == "JPEG":
        return data
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY)
        return out.getvalue()


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (no second copy of a large image set), else copy; atomic either way."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.link")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:  # another filesystem, or links not allowed: copy instead
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        return
    try:
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _place(content: Path | bytes, target: Path) -> None:
    """Verify `content` and put it at `target` as a JPEG."""
    if isinstance(content, Path) and verify_image(content, content) == "JPEG":
        _link_or_copy(content, target)
        return
    data = content.read_bytes() if isinstance(content, Path) else content
    write_bytes(target, _as_jpeg(data, str(content) if isinstance(content, Path) else target.name))


def wanted_images(questions_file: Path, benchmark: str) -> dict[str, int]:
    """Image id → the first line asking about it, in file order.

    Dyn-VQA rows without `image_id` (OmniSearch's own file) are named by
    their `question_id` `enN`, as R1-Router's released copy names them.
    """
    wanted: dict[str, int] = {}
    for line, row in iter_jsonl(questions_file):
        image_id = row.get("image_id")
        if image_id is None and benchmark == "dyn_vqa":
            image_id = _dyn_vqa_number(row, questions_file, line)
        if not isinstance(image_id, str | int) or isinstance(image_id, bool) or not str(image_id).strip():
            raise DataError(questions_file, f"expected an image id, got {image_id!r}", line=line, field="image_id")
        wanted.setdefault(str(image_id), line)
    return wanted


def _dyn_vqa_number(row: dict[str, Any], path: Path, line: int) -> str:
    match = _DYN_VQA_QID.fullmatch(str(row.get("question_id")))
    if match is None:
        raise DataError(path, f"expected 'en<number>', got {row.get('question_id')!r}", line=line, field="question_id")
    return match.group(1)


def _oven_images(source: dict[str, Any], wanted: list[str]) -> Iterator[tuple[str, ImageContent]]:
    root = Path(source["oven_images"])
    for image_id in wanted:
        path = root / image_id[-8:-6] / f"{image_id}.jpg"
        yield image_id, path if path.is_file() else Unavailable(f"not in the OVEN image tree ({path})")


def _webqa_folder(source: dict[str, Any], wanted: list[str]) -> Iterator[tuple[str, ImageContent]]:
    root = Path(source["webqa_images"])
    for image_id in wanted:
        path = root / f"{image_id}.jpg"
        yield image_id, path if path.is_file() else Unavailable(f"not in {root}")


def _webqa_tsv(source: dict[str, Any], wanted: list[str]) -> Iterator[tuple[str, ImageContent]]:
    """One pass over WebQA's imgs.tsv (tens of GB), decoding only the wanted lines and stopping when all are found."""
    path, todo = Path(source["imgs_tsv"]), set(wanted)
    with open(path, encoding="ascii", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not todo:
                break
            image_id, tab, encoded = line.partition("\t")
            if not tab:
                raise DataError(path, "expected 'image_id<TAB>base64'", line=line_no)
            if image_id in todo:
                todo.discard(image_id)
                try:
                    yield image_id, base64.b64decode(encoded.strip(), validate=True)
                except binascii.Error as exc:
                    yield image_id, Unavailable(f"{path}, line {line_no}: not base64 ({exc})", bad=True)
    for image_id in wanted:
        if image_id in todo:
            yield image_id, Unavailable(f"not in {path}")


def _dyn_vqa_urls(path: Path) -> dict[str, str]:
    """Image id N → `image_url`, from OmniSearch's file (the question `enN`'s image)."""
    urls = {}
    for line, row in iter_jsonl(path):
        url = row.get("image_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            message = f"expected an http(s) URL, got {url!r} (R1-Router's copy drops it: use OmniSearch's file)"
            raise DataError(path, message, line=line, field="image_url")
        urls[_dyn_vqa_number(row, path, line)] = url
    return urls


def _download(client: httpx.Client, url: str, retries: int, delay: float) -> bytes | Unavailable:
    """The body at `url`; Unavailable after a client error (404: gone) or `retries` retried failures."""
    for attempt in range(retries + 1):
        try:
            response = client.get(url)
        except httpx.TransportError as exc:  # connection refused, timeouts, a dropped stream
            failure = f"{url}: {type(exc).__name__} {exc}"
        else:
            if response.status_code == 200:
                return response.content
            failure = f"{url}: HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                return Unavailable(failure)
        if attempt < retries:
            time.sleep(delay * 2**attempt)
    return Unavailable(f"{failure} (after {retries + 1} tries)")


def _dyn_vqa_images(
    source: dict[str, Any], wanted: list[str], questions_file: Path
) -> Iterator[tuple[str, ImageContent]]:
    urls = _dyn_vqa_urls(Path(source.get("omnisearch_file", questions_file)))
    retries, delay = int(source.get("retries", 3)), float(source.get("retry_delay_seconds", 5))
    timeout = float(source.get("http_timeout_seconds", 30))
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for image_id in wanted:
            url = urls.get(image_id)
            yield image_id, _download(client, url, retries, delay) if url else Unavailable("no image_url for it")


def _source_images(
    benchmark: str, source: dict[str, Any], wanted: list[str], questions_file: Path
) -> Iterator[tuple[str, ImageContent]]:
    if unknown := sorted(set(source) - set(SOURCE_KEYS[benchmark])):
        raise ConfigError(f"images source for {benchmark}: unknown key(s) {unknown} (known: {SOURCE_KEYS[benchmark]})")
    if benchmark == "infoseek" and "oven_images" in source:
        return _oven_images(source, wanted)
    if benchmark == "dyn_vqa":
        return _dyn_vqa_images(source, wanted, questions_file)
    if benchmark == "webqa" and len(source) == 1:
        return _webqa_folder(source, wanted) if "webqa_images" in source else _webqa_tsv(source, wanted)
    raise ConfigError(f"images source for {benchmark}: give {' or '.join(SOURCE_KEYS[benchmark][:2])}")


def _present(target: Path) -> bool:
    """An image already placed by an earlier run (checked again: a half-done copy is never left, but be sure)."""
    try:
        return target.is_file() and verify_image(target, target) == "JPEG"
    except DataError:
        return False


def assemble_images(
    benchmark: str,
    questions_file: str | Path,
    source: dict[str, Any],
    out_root: str | Path,
    *,
    on_missing: str = "record",
    report: str | Path | None = None,
) -> dict[str, Any]:
    """Put every image `questions_file` asks about at `out_root/{image_id}.jpg`; return the report.

    The report (`{"benchmark", "wanted", "present", "missing", "bad",
    "reasons"}`, ids in file order) is also written to `report` (default
    `<out_root>.report.json`). Images already in place are kept, so a rerun
    fetches only what is missing. `on_missing="fail"` raises, after writing
    the report, a DataError naming the questions file, line and `image_id`
    of the first image missing or bad.
    """
    if benchmark not in SOURCE_KEYS:
        raise ConfigError(f"no image source for '{benchmark}' (images come for: {', '.join(SOURCE_KEYS)})")
    if on_missing not in ON_MISSING:
        raise ConfigError(f"on_missing must be one of {', '.join(ON_MISSING)}, got {on_missing!r}")
    questions_file, out_root = Path(questions_file), Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    wanted = wanted_images(questions_file, benchmark)
    todo = [image_id for image_id in wanted if not _present(out_root / f"{image_id}.jpg")]
    missing: dict[str, str] = {}
    bad: dict[str, str] = {}
    with Progress(len(todo), f"{benchmark} images", unit="image") as progress:
        for image_id, content in _source_images(benchmark, source, todo, questions_file):
            if isinstance(content, Unavailable):
                (bad if content.bad else missing)[image_id] = content.reason
            else:
                try:
                    _place(content, out_root / f"{image_id}.jpg")
                except DataError as exc:
                    bad[image_id] = str(exc)
            progress.update()
    reasons = {**missing, **bad}
    result = {
        "benchmark": benchmark,
        "wanted": len(wanted),
        "present": len(wanted) - len(reasons),
        "missing": [i for i in wanted if i in missing],
        "bad": [i for i in wanted if i in bad],
        "reasons": {i: reasons[i] for i in wanted if i in reasons},
    }
    write_json(report or out_root.with_name(f"{out_root.name}.report.json"), result)
    if on_missing == "fail" and result["reasons"]:
        first = next(iter(result["reasons"]))
        message = f"image {first}: {result['reasons'][first]}"
        raise DataError(questions_file, message, line=wanted[first], field="image_id")
    return result

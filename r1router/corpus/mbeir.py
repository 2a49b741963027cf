"""M-BEIR candidate pools (`cand_pool/*.jsonl`) → image records for the paper's Text Image Retriever.

The paper's Text Image Retriever is UniIR over an M-BEIR candidate pool. A
pool line, as UniIR writes and reads it (`src/data/preprocessing/*_data_preprocessor.py`,
`src/data/mbeir_dataset.py`, `src/common/interactive_retriever.py`), is
`{"did": "<dataset id>:<n>", "txt", "img_path", "modality", "src_content"}`:

- `modality` is `text`, `image` or `image,text`;
- `txt` is the candidate's text, null for an image-only candidate;
- `img_path` is relative to the M-BEIR root (`mbeir_images/webqa_images/<id>.jpg`),
  absent or null for a text candidate;
- `did` is unique within the pool (UniIR's retriever asserts it).

What the policy reads of a hit is its `txt` (R1-Router shows `text['txt']`),
so a record's `text` and `caption` are the `txt`. Image-only candidates have
nothing to show and are dropped, counted as `dropped.no_text`. With
`images_root` (the M-BEIR root) each image must exist inside it and decode;
its record names it relative to that root, and the corpus manifest records
the root as `image_root` (absolute, resolved), where a KB build resolves the
images. The images stay where they are, and the corpus directory can be moved
or linked elsewhere (the pipeline links a finished build into its output).
Without `images_root` candidates keep their text only, counted as `images_absent`.

Bad lines stop the build with a DataError naming file, line and field, or
with `bad_lines="skip"` are counted as `dropped.<reason>` and left out. A
unit is a block of `LINES_PER_UNIT` lines, so a killed build resumes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from r1router.corpus.shards import ShardWriter
from r1router.errors import ConfigError, DataError
from r1router.hashing import file_sha256
from r1router.io.images import verify_image
from r1router.progress import Progress

MODALITIES = ("text", "image", "image,text")
LINES_PER_UNIT = 1000
BAD_LINE_POLICIES = ("fail", "skip")


class BadLine(DataError):
    """A pool line that cannot become a record; `reason` names its `dropped.<reason>` count."""

    def __init__(self, reason: str, path: str | Path, message: str, *, line: int | None, field: str | None = None):
        super().__init__(path, message, line=line, field=field)
        self.reason = reason


def _image_path(
    raw: dict[str, Any],
    modality: str,
    images_root: Path | None,
    where: str | Path,
    line: int | None,
) -> str | None:
    """The candidate's image relative to `images_root`, verified; None for a text candidate or without a root.

    A file that resolves outside the root (a symlink leaving it) is refused
    here, as the KB build would refuse it: a corpus holds only images its KB can embed.
    """
    img_path = raw.get("img_path")
    if "image" not in modality:
        if img_path is not None:
            raise BadLine("bad_img_path", where, "a text candidate with an image", line=line, field="img_path")
        return None
    relative = PurePosixPath(img_path) if isinstance(img_path, str) and img_path else None
    if relative is None or relative.is_absolute() or ".." in relative.parts:
        message = f"expected a path under the M-BEIR root, got {img_path!r}"
        raise BadLine("bad_img_path", where, message, line=line, field="img_path")
    if images_root is None:
        return None
    image = images_root / relative
    if not image.resolve().is_relative_to(images_root.resolve()):
        message = f"{image} resolves to {image.resolve()}, outside the M-BEIR root (a symlink leaving it)"
        raise BadLine("bad_img_path", where, message, line=line, field="img_path")
    if not image.is_file():
        raise BadLine("bad_image", where, f"image file not found: {image}", line=line, field="img_path")
    try:
        verify_image(image, where, line=line, field="img_path")
    except DataError as exc:
        raise BadLine("bad_image", where, f"{image}: {exc.message}", line=line, field="img_path") from None
    return relative.as_posix()


def mbeir_record(
    raw: Any,
    *,
    images_root: str | Path | None = None,
    where: str | Path = "<M-BEIR candidate>",
    line: int | None = None,
) -> dict[str, Any] | None:
    """One pool candidate as an image record (`id`, `text`, `caption`, `modality`, `image`); None if image-only.

    With `images_root` (the M-BEIR root) the image is verified and `image` is
    its path relative to that root. `image` is always present (None without
    one): the shard writer takes its columns from a shard's first record, so a
    key missing there would be lost for the whole shard. Raises BadLine for a
    candidate that is not valid.
    """
    if not isinstance(raw, dict):
        raise BadLine("not_json", where, f"expected a JSON object, got {type(raw).__name__}", line=line)
    did = raw.get("did")
    if not isinstance(did, str) or not did.strip():
        raise BadLine("bad_did", where, f"expected a non-empty string id, got {did!r}", line=line, field="did")
    modality = raw.get("modality")
    if modality not in MODALITIES:
        message = f"expected one of {', '.join(MODALITIES)}, got {modality!r}"
        raise BadLine("bad_modality", where, message, line=line, field="modality")
    if "txt" not in raw:
        raise BadLine("bad_txt", where, "required field is missing", line=line, field="txt")
    txt = raw["txt"]
    if txt is not None and not isinstance(txt, str):
        raise BadLine("bad_txt", where, f"expected a string or null, got {type(txt).__name__}", line=line, field="txt")
    if not (txt or "").strip():
        if modality == "image":
            return None
        raise BadLine("bad_txt", where, f"empty text for a '{modality}' candidate", line=line, field="txt")
    root = Path(images_root) if images_root is not None else None
    image = _image_path(raw, modality, root, where, line)
    return {"id": did, "text": txt, "caption": txt, "modality": modality, "image": image}


@dataclass
class _Pool:
    """One build's state: where the pool is, what to do with bad lines, and every `did` seen so far."""

    path: Path
    images_root: Path | None
    bad_lines: str
    counts: Counter[str]
    seen: dict[str, int] = field(default_factory=dict)  # did → the line that first had it

    def remember(self, lines: list[tuple[int, str]]) -> None:
        """Note the dids of an already-written block, so a duplicate after it is still caught on resume."""
        for line_no, text in lines:
            try:
                raw = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(raw, dict) and isinstance(raw.get("did"), str):
                self.seen.setdefault(raw["did"], line_no)

    def record(self, line_no: int, text: str) -> dict[str, Any] | None:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            message = f"malformed JSON ({exc.msg} at column {exc.colno})"
            raise BadLine("not_json", self.path, message, line=line_no) from None
        if isinstance(raw, dict) and isinstance(raw.get("did"), str):
            first = self.seen.setdefault(raw["did"], line_no)
            if first != line_no:
                message = f"duplicate did {raw['did']!r} (first on line {first})"
                raise BadLine("duplicate_did", self.path, message, line=line_no, field="did")
        return mbeir_record(raw, images_root=self.images_root, where=self.path, line=line_no)

    def block(self, lines: list[tuple[int, str]]) -> list[dict[str, Any]]:
        """The records of one unit, counting what each line became."""
        records = []
        for line_no, text in lines:
            self.counts["in"] += 1
            try:
                record = self.record(line_no, text)
            except BadLine as error:
                if self.bad_lines == "fail":
                    raise
                self.counts[f"dropped.{error.reason}"] += 1
                continue
            if record is None:
                self.counts["dropped.no_text"] += 1
                continue
            if record["image"] is None and "image" in record["modality"]:
                self.counts["images_absent"] += 1
            self.counts["kept"] += 1
            records.append(record)
        return records


def _blocks(handle: IO[str]) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """(unit, its non-blank lines with their 1-based numbers); unit n holds lines n*LINES_PER_UNIT+1 onwards."""
    unit, lines = 0, []
    for line_no, text in enumerate(handle, start=1):
        if (line_no - 1) // LINES_PER_UNIT != unit:
            yield unit, lines
            unit, lines = (line_no - 1) // LINES_PER_UNIT, []
        if text.strip():
            lines.append((line_no, text))
    if lines:
        yield unit, lines


def build_mbeir_corpus(
    pool: str | Path,
    out_dir: str | Path,
    *,
    images_root: str | Path | None = None,
    bad_lines: str = "fail",
    shard_size: int = 50_000,
) -> dict[str, Any]:
    """Write an M-BEIR candidate pool as image records into `out_dir` (resuming a run there); return the manifest.

    `images_root` is the M-BEIR root that the pool's `img_path`s are relative
    to; the manifest records it, resolved, as `image_root` (None without one).
    """
    if bad_lines not in BAD_LINE_POLICIES:
        raise ConfigError(f"bad_lines must be one of {', '.join(BAD_LINE_POLICIES)}, got {bad_lines!r}")
    pool, out_dir = Path(pool), Path(out_dir)
    if not pool.is_file():
        raise DataError(pool, "file not found")
    root = Path(os.path.abspath(images_root)) if images_root is not None else None
    settings = {
        "format": "mbeir",
        "input_sha256": file_sha256(pool),
        "images_root": str(root) if root else None,
        "bad_lines": bad_lines,
        "lines_per_unit": LINES_PER_UNIT,
    }
    writer = ShardWriter(out_dir, settings, shard_size)
    state = _Pool(pool, root, bad_lines, writer.counts)
    with Progress(None, "m-beir pool", unit="line") as progress, open(pool, encoding="utf-8") as handle:
        for unit, lines in _blocks(handle):
            if writer.skip(unit):
                state.remember(lines)
            else:
                writer.add_unit(unit, state.block(lines))
            progress.update(len(lines))
    image_root = str(root.resolve()) if root is not None else None
    return writer.finish({"source": str(pool), "image_root": image_root})

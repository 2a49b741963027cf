"""Images with captions: the paper's Text Image Retriever.

Documents are embedded as the fusion of image and caption; a query may be
text, image, or both (UniIR's image,text→text mode), so the same index serves
"which landmark is this photo of?" and "what is on the flag of X?".

A record's `image` is a path inside its input's base directory (a KB file's
directory, or the image root a corpus was built from). A record cannot name a
file outside it, by an absolute path, `..` or a symlink leaving it: a KB file
from elsewhere must not get arbitrary files of this machine opened and
embedded. Every image must decode and stay within Pillow's decompression-bomb
limit, checked while records are validated, before any model loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1router.errors import DataError
from r1router.io.images import verify_image
from r1router.kb.kinds.base import KBKind, QueryImage

if TYPE_CHECKING:  # annotations only, as in `base`: prompts and parsing import every kind
    import numpy as np


def image_file(image: str, base_dir: Path, where: str | Path, line: int | None = None) -> Path:
    """The file a record's `image` names, resolved inside `base_dir`; a DataError naming `where` otherwise."""
    relative = Path(image)
    if not image or "\0" in image or relative.is_absolute():
        message = f"expected a path relative to {base_dir}, got {image!r}"
        raise DataError(where, message, line=line, field="image")
    base = Path(base_dir).resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        message = f"{image!r} resolves to {target}, outside {base} (a '..' or a symlink leaving it)"
        raise DataError(where, message, line=line, field="image")
    if not target.is_file():
        raise DataError(where, f"image file not found: {base / relative}", line=line, field="image")
    return target


class ImageKind(KBKind):
    name = "image"
    retriever = "Text Image Retriever"
    tag = "tir"
    encoder = "image"
    # A pool without images (M-BEIR's text candidates, the release corpus) may name `family: text`; the text
    # encoder then refuses any image it is given (`TextEncoder.encode_fused`).
    other_encoders = ("text",)
    query_uses_image = True
    fields = {"id": str, "caption": str}  # noqa: RUF012
    optional_fields = {"image": str}  # noqa: RUF012  # M-BEIR's text-only candidates have none

    def validate(self, record: dict[str, Any], path: Path, line: int, base_dir: Path | None = None) -> dict[str, Any]:
        clean = super().validate(record, path, line, base_dir)
        if "image" in clean:
            base = Path(path).parent if base_dir is None else Path(base_dir)
            verify_image(image_file(clean["image"], base, path, line), path, line=line, field="image")
        return clean

    def passage(self, record: dict[str, Any]) -> str:
        return record["caption"]

    def encode_documents(self, encoder: Any, records: list[dict[str, Any]], base_dir: Path) -> np.ndarray:
        # Resolved again, not trusted from validation: a symlink swapped in since then still cannot leave base_dir.
        images = [image_file(r["image"], base_dir, base_dir) if "image" in r else None for r in records]
        return encoder.encode_fused(images, [r["caption"] for r in records])

    def encode_queries(self, encoder: Any, texts: list[str], images: list[QueryImage] | None) -> np.ndarray:
        return encoder.encode_fused(images or [None] * len(texts), list(texts))

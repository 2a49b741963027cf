"""Images with captions: the paper's Text Image Retriever.

Documents are embedded as the fusion of image and caption; a query may be
text, image, or both (UniIR's image,text→text mode), so the same index serves
"which landmark is this photo of?" and "what is on the flag of X?".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1router.errors import DataError
from r1router.kb.kinds.base import KBKind, QueryImage

if TYPE_CHECKING:  # annotations only, as in `base`: prompts and parsing import every kind
    import numpy as np


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

    def validate_extra(self, record: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
        if "image" not in record:
            return record
        image = Path(path).parent / record["image"]
        if not image.is_file():
            raise DataError(path, f"image file not found: {image}", line=line, field="image")
        return record

    def passage(self, record: dict[str, Any]) -> str:
        return record["caption"]

    def encode_documents(self, encoder: Any, records: list[dict[str, Any]], base_dir: Path) -> np.ndarray:
        images = [base_dir / r["image"] if "image" in r else None for r in records]
        return encoder.encode_fused(images, [r["caption"] for r in records])

    def encode_queries(self, encoder: Any, texts: list[str], images: list[QueryImage] | None) -> np.ndarray:
        return encoder.encode_fused(images or [None] * len(texts), list(texts))

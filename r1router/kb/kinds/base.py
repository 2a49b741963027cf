"""The one small interface every knowledge-base kind implements.

A kind holds everything that differs between KBs: its record schema, how a
record reads as a passage, which encoder family embeds it and how, what a
query of it carries (text alone, or text and the question's image), how the
policy is shown one of its hits, and the router's name for it. The router
loop, the baselines, retrieval evaluation, prompts and parsing ask the kind
instead of testing its name, so a new kind (e.g. an LLM-expert KB) is one
module registered with `r1router.kb.kinds.register_kind` or named in params
(`r1router.kb.kinds.import_kinds`); none of them changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1router.errors import DataError
from r1router.kb.hit import Hit

if TYPE_CHECKING:  # numpy only types the encoders' output: prompts and parsing import this module
    import numpy as np

QueryImage = Any  # a PIL image, a path, or None


class KBKind(ABC):
    """Schema, passage rendering, embedding and presentation for one kind of KB."""

    name: str
    retriever: str  # the router's name for it, as in the paper's prompts (parsed back ignoring case)
    tag: str  # prefix of its passages in the sub-answer prompt: ter / tar / tir
    encoder: str  # the encoder family that embeds it (`r1router.kb.encoders.ENCODER_FAMILIES`: text, image)
    other_encoders: tuple[str, ...] = ()  # families a params spec may name instead, on purpose (`family:`)
    fields: dict[str, type]
    optional_fields: dict[str, type] = {}  # noqa: RUF012  # kept when present and not null, type-checked
    query_uses_image: bool = False  # a query carries the question's image along with its text

    def validate(self, record: dict[str, Any], path: Path, line: int, base_dir: Path | None = None) -> dict[str, Any]:
        """Check field presence and types; return the record with only the schema's fields.

        `path` and `line` locate the record in errors. `base_dir` is where the
        record's relative file paths start: the directory of a KB file, or the
        image root of a corpus directory (`r1router.kb.records.records_base_dir`);
        None means the directory of `path`. A kind whose records name files
        (`ImageKind`) extends this method to check them there.
        """
        clean: dict[str, Any] = {}
        for field, expected in self.fields.items():
            if field not in record or record[field] is None:
                raise DataError(path, "missing required field", line=line, field=field)
            value = record[field]
            if expected is str and not isinstance(value, str):
                raise DataError(path, f"expected a string, got {type(value).__name__}", line=line, field=field)
            if expected is str and field == "id" and not value.strip():
                raise DataError(path, "must not be empty", line=line, field=field)
            clean[field] = value
        for field, expected in self.optional_fields.items():
            value = record.get(field)
            if value is None:
                continue
            if expected is str and not isinstance(value, str):
                raise DataError(path, f"expected a string, got {type(value).__name__}", line=line, field=field)
            clean[field] = value
        return self.validate_extra(clean, path, line)

    def validate_extra(self, record: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
        """Kind-specific checks beyond field types (overridden where needed)."""
        return record

    @abstractmethod
    def passage(self, record: dict[str, Any]) -> str:
        """The text the policy reads after `<tag>-i:` (and the text that is embedded)."""

    def encode_documents(self, encoder: Any, records: list[dict[str, Any]], base_dir: Path) -> np.ndarray:
        """Embed records; `base_dir` is the one their validation resolved file paths in."""
        return encoder.encode([self.passage(r) for r in records])

    def encode_queries(self, encoder: Any, texts: list[str], images: list[QueryImage] | None) -> np.ndarray:
        return encoder.encode(list(texts))

    def query_images(self, images: Sequence[QueryImage]) -> list[QueryImage] | None:
        """What a batch of queries hands to search besides its texts: the questions' images, or None.

        Callers pass every question's image and let the kind decide, so no
        caller needs to know which kinds look at images.
        """
        return list(images) if self.query_uses_image else None

    def show_hit(self, position: int, hit: Hit) -> str:
        """One passage line of the sub-answer prompt, numbered within its kind from 0 as the paper's prompts do."""
        return f"{self.tag}-{position}: {hit.text}\n"

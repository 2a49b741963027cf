"""The one small interface every knowledge-base kind implements.

A kind knows its record schema, how a record reads as a passage, and how to
embed records and queries. Adding a kind (e.g. an LLM-expert KB) means one
new module registered in `r1router.kb.kinds`; the router loop never changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from r1router.errors import DataError

QueryImage = Any  # a PIL image, a path, or None


class KBKind(ABC):
    """Schema, passage rendering and embedding for one kind of KB."""

    name: str
    retriever: str  # the router's name for it, as in the paper's prompts
    tag: str  # prefix of retrieved passages shown to the policy: ter / tar / tir
    encoder: str  # which encoder family embeds it: "text" or "image"
    fields: dict[str, type]

    def validate(self, record: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
        """Check field presence and types; return the record with only the schema's fields."""
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
        return self.validate_extra(clean, path, line)

    def validate_extra(self, record: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
        """Kind-specific checks beyond field types (overridden where needed)."""
        return record

    @abstractmethod
    def passage(self, record: dict[str, Any]) -> str:
        """The text the policy reads after `<tag>-i:` (and the text that is embedded)."""

    def encode_documents(self, encoder: Any, records: list[dict[str, Any]], base_dir: Path) -> np.ndarray:
        return encoder.encode([self.passage(r) for r in records])

    def encode_queries(self, encoder: Any, texts: list[str], images: list[QueryImage] | None) -> np.ndarray:
        return encoder.encode(list(texts))

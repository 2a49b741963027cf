"""Text passages (Wikipedia-style): the paper's Text Retriever."""

from __future__ import annotations

from typing import Any

from r1router.kb.kinds.base import KBKind


class TextKind(KBKind):
    name = "text"
    retriever = "Text Retriever"
    tag = "ter"
    encoder = "text"
    fields = {"id": str, "title": str, "text": str}  # noqa: RUF012

    def passage(self, record: dict[str, Any]) -> str:
        return f"{record['title']}\n{record['text']}"

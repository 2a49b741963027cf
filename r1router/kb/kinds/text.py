"""Text passages (Wikipedia-style): the paper's Text Retriever.

A corpus record's `text` is the exact passage (a wikiextractor window starts
with its article's title line already); a record with a separate `title` (the
demo world's) reads as the title line, then the text.
"""

from __future__ import annotations

from typing import Any

from r1router.kb.kinds.base import KBKind


class TextKind(KBKind):
    name = "text"
    retriever = "Text Retriever"
    tag = "ter"
    encoder = "text"
    fields = {"id": str, "text": str}  # noqa: RUF012
    optional_fields = {"title": str}  # noqa: RUF012

    def passage(self, record: dict[str, Any]) -> str:
        title = record.get("title")
        return f"{title}\n{record['text']}" if title else record["text"]

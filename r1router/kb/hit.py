"""One retrieved passage, in a module of its own so that text-only code can name it.

Prompts, trajectories, step rows and the filter stage all carry hits, but none
of them searches: keeping `Hit` apart from the retriever (faiss, pyarrow, the
encoders, torch) lets them import it without loading any of that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hit:
    """A passage `id` of KB kind `kb`, its similarity `score`, and the `text` the policy reads."""

    kb: str
    id: str
    score: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"kb": self.kb, "id": self.id, "score": round(self.score, 6), "text": self.text}

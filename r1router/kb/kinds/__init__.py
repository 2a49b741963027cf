"""Registry of KB kinds, looked up by name (`text`, `table`, `image`) or retriever name."""

from __future__ import annotations

from r1router.errors import ConfigError
from r1router.kb.kinds.base import KBKind
from r1router.kb.kinds.image import ImageKind
from r1router.kb.kinds.table import TableKind, linearize_table
from r1router.kb.kinds.text import TextKind

KINDS: dict[str, KBKind] = {kind.name: kind for kind in (TextKind(), TableKind(), ImageKind())}


def get_kind(name: str) -> KBKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown KB kind '{name}'; choose one of {sorted(KINDS)}") from None


def kind_for_retriever(retriever: str) -> KBKind | None:
    """Map the router's retriever name (any case) to its kind; None means stop."""
    wanted = retriever.strip().lower()
    for kind in KINDS.values():
        if kind.retriever.lower() == wanted:
            return kind
    return None


__all__ = ["KINDS", "KBKind", "get_kind", "kind_for_retriever", "linearize_table"]

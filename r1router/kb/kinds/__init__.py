"""Registry of KB kinds, looked up by name (`text`, `table`, `image`, ...) or by the router's retriever name.

The paper's three kinds are registered here. A new kind needs no edit here:
write one module with a `KBKind` subclass and either call
`register_kind(MyKind())` where it is imported, or name it in params as
`{name: "package.module:MyKind"}` under the profile's `kinds` section, which
every stage registers (`register_profile_kinds`) and whose modules count as
code deps of every stage (`r1router.codedeps`).
Every lookup (`get_kind`, `kind_for_retriever`, `KINDS`) reads the one live
registry, so the parser, the prompts and the methods see a registered kind at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

from r1router.errors import ConfigError
from r1router.kb.kinds.base import KBKind
from r1router.kb.kinds.image import ImageKind
from r1router.kb.kinds.table import TableKind, linearize_table
from r1router.kb.kinds.text import TextKind

KINDS: dict[str, KBKind] = {}  # name -> kind, in registration order (the paper's three first)
_UNIQUE = ("name", "retriever", "tag")  # what tells kinds apart in files, in a decision, and in a prompt


def register_kind(kind: KBKind) -> KBKind:
    """Add `kind` to the registry and return the registered instance.

    Registering a kind of the same class again returns the first one, so a
    plugin imported twice (two stages in one process) is harmless. Name,
    retriever name and tag must be unique, ignoring case: parsing maps a
    retriever name back to exactly one kind, and the policy tells passages
    apart by tag.
    """
    existing = KINDS.get(kind.name)
    if existing is not None and type(existing) is type(kind):
        return existing
    for other in KINDS.values():
        clashes = [attr for attr in _UNIQUE if getattr(other, attr).lower() == getattr(kind, attr).lower()]
        if clashes:
            raise ConfigError(f"KB kind '{kind.name}' has the same {' and '.join(clashes)} as '{other.name}'")
    KINDS[kind.name] = kind
    return kind


def import_kinds(specs: Mapping[str, str]) -> list[KBKind]:
    """Register the kinds a params mapping names as `{name: "package.module:Attribute"}`.

    The attribute is a `KBKind` subclass or instance whose `name` is the key;
    this is how a profile brings its own kind with one module and one params entry.
    """
    kinds = []
    for name, spec in specs.items():
        module_name, _, attribute = spec.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as error:
            raise ConfigError(f"KB kind '{name}': cannot import '{spec}' ('package.module:Kind'): {error}") from None
        kind = target() if isinstance(target, type) and issubclass(target, KBKind) else target
        if not isinstance(kind, KBKind):
            raise ConfigError(f"KB kind '{name}': '{spec}' is not a KBKind subclass or instance")
        if kind.name != name:
            raise ConfigError(f"KB kind '{name}': '{spec}' is named '{kind.name}'")
        kinds.append(register_kind(kind))
    return kinds


def profile_kind_specs(params_path: str | Path | None = None) -> dict[str, str]:
    """The active profile's own kinds (`profiles.<profile>.kinds`: `{name: "package.module:Kind"}`), maybe none."""
    from r1router.config import load_profile

    _, sections = load_profile(params_path)
    specs = sections.get("kinds") or {}
    if not isinstance(specs, Mapping) or not all(isinstance(v, str) for v in specs.values()):
        raise ConfigError('params.yaml kinds: expected a mapping of name: "package.module:Kind"')
    return dict(specs)


def register_profile_kinds(params_path: str | Path | None = None) -> list[KBKind]:
    """Register the active profile's own kinds: what every stage and CLI command does before it reads a KB."""
    return import_kinds(profile_kind_specs(params_path))


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


for _kind in (TextKind(), TableKind(), ImageKind()):
    register_kind(_kind)

__all__ = [
    "KINDS",
    "KBKind",
    "get_kind",
    "import_kinds",
    "kind_for_retriever",
    "linearize_table",
    "profile_kind_specs",
    "register_kind",
    "register_profile_kinds",
]

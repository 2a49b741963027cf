"""Encoders named by a small spec dict, so a built KB records how to embed its queries.

Spec forms:
- `{"family": "text", "path": "models/text_encoder"}` (a local sentence-transformers directory)
- `{"family": "text", "hub": "BAAI/bge-m3"}` (a sentence-transformers model on the Hugging Face hub)
- `{"family": "image", "path": "data/kb/image-encoder"}` (an open_clip model trained here)
- `{"family": "image", "name": "ViT-B-32", "pretrained": "openai"}` (pretrained open_clip)

A `path` is only ever a local directory: one that does not exist is a
DataError, never a hub lookup, so a typo cannot start a download. Only `hub`
(and open_clip's `pretrained` tag) reach the network, because the user named them.

A KB's manifest records the spec in its self-contained form (`manifest_spec`):
the family made explicit, a local path relative to the KB directory, and the
sha256 of the encoder's files. A KB then searches the same way from any working directory,
and an encoder changed since the build is refused instead of embedding
queries in a space its documents are not in.

The KB's kind decides the family (`KBKind.encoder`): a spec may leave
`family` out, and one that names another family is refused unless the kind
allows it (`KBKind.other_encoders`), so a table KB is never embedded by CLIP
through a params typo.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from r1router.encoders.batch_size import AUTO_BATCH_SIZE, DEFAULT_BATCH_SIZE, BatchSize, check_batch_size
from r1router.errors import ConfigError, DataError
from r1router.hashing import text_sha256, tree_sha256
from r1router.kb.kinds import KBKind

EncoderLoader = Callable[[Mapping[str, Any], str, Path, BatchSize], Any]  # (spec, device, root, batch_size) -> encoder
CONTENT_KEY = "sha256"  # a manifest spec's hash of the encoder's local files


def _text_encoder(spec: Mapping[str, Any], device: str, root: Path, batch_size: BatchSize) -> Any:
    from r1router.encoders.text import TextEncoder

    source = str(spec["hub"]) if "hub" in spec else str(local_encoder_dir(spec, root))
    return TextEncoder(source, device=device, batch_size=batch_size)


def _image_encoder(spec: Mapping[str, Any], device: str, root: Path, batch_size: BatchSize) -> Any:
    """CLIP has no memory search: "auto" is the default batch size there (a profile's one `kb.batch_size`
    serves its text, table and image KBs alike)."""
    from r1router.encoders.clip import ClipEncoder

    if batch_size == AUTO_BATCH_SIZE:
        batch_size = DEFAULT_BATCH_SIZE
    if "path" in spec:
        return ClipEncoder.load(local_encoder_dir(spec, root), device=device, batch_size=batch_size)
    return ClipEncoder.from_pretrained(spec["name"], spec.get("pretrained"), device=device, batch_size=batch_size)


ENCODER_FAMILIES: dict[str, EncoderLoader] = {"text": _text_encoder, "image": _image_encoder}
_SOURCES: dict[str, tuple[str, ...]] = {"text": ("path", "hub"), "image": ("path", "name")}  # exactly one of these


def encoder_family(spec: Mapping[str, Any], kind: KBKind) -> str:
    """The family that embeds a KB of `kind` under `spec`; a ConfigError for one the kind does not allow."""
    family = spec.get("family", kind.encoder)
    if family != kind.encoder and family not in kind.other_encoders:
        raise ConfigError(
            f"a {kind.name} KB is embedded by a '{kind.encoder}' encoder, but {dict(spec)!r} names '{family}'"
        )
    if family not in ENCODER_FAMILIES:
        known = sorted(ENCODER_FAMILIES)
        raise ConfigError(f"unknown encoder family '{family}' of KB kind '{kind.name}' (known: {known})")
    sources = [key for key in _SOURCES.get(family, ("path",)) if key in spec]
    if len(sources) != 1:
        wanted = " or ".join(f"'{key}'" for key in _SOURCES.get(family, ("path",)))
        raise ConfigError(f"a '{family}' encoder spec needs exactly one of {wanted}, got {dict(spec)!r}")
    return family


def local_encoder_dir(spec: Mapping[str, Any], root: Path = Path(".")) -> Path:
    """A spec's `path` as an existing directory (relative paths start at `root`); a DataError otherwise."""
    candidate = Path(spec["path"])
    local = candidate if candidate.is_absolute() else Path(root) / candidate
    if not local.is_dir():
        raise DataError(
            local, "encoder directory not found (a `path` is a local directory; name a hub model with `hub:`)"
        )
    return local.resolve()


def manifest_spec(spec: Mapping[str, Any], kind: KBKind, kb_dir: Path, root: Path = Path(".")) -> dict[str, Any]:
    """`spec` as a KB manifest records it: family explicit; a local encoder by content hash and its path
    relative to the KB directory `kb_dir` (`load_encoder(..., root=kb_dir)` resolves it back).

    Relative to the KB, not absolute: the pipeline's `data/kb/text` names `../../../models/text_encoder`
    in every clone, so the manifest (a DVC output) is the same wherever the checkout lives and a KB
    pulled from a DVC remote still finds its encoder; `kb search --kb DIR` works from any directory.
    A hub model (`hub`, or open_clip's `name`/`pretrained`) is recorded as named: its files are not
    local, so there is nothing here to hash.
    """
    clean = {key: value for key, value in spec.items() if key != CONTENT_KEY}
    clean["family"] = encoder_family(clean, kind)
    if "path" in clean:
        local = local_encoder_dir(clean, root)
        clean["path"] = os.path.relpath(local, Path(kb_dir).resolve())
        clean[CONTENT_KEY] = tree_sha256(local)
    return clean


def load_encoder(
    spec: Mapping[str, Any],
    kind: KBKind,
    device: str,
    root: Path = Path("."),
    batch_size: BatchSize = DEFAULT_BATCH_SIZE,
) -> Any:
    """Load the encoder `spec` describes for a KB of `kind`, in the family the kind names; it embeds in
    batches of `batch_size` (an int, or "auto": see `check_batch_size` and `TextEncoder`).

    A spec carrying a content hash (a KB manifest's) must still match the
    encoder's files: a retrained or replaced encoder is a DataError naming it.
    """
    check_batch_size(batch_size)
    family = encoder_family(spec, kind)
    if CONTENT_KEY in spec and "path" in spec:
        local = local_encoder_dir(spec, root)
        actual = tree_sha256(local)
        if actual != spec[CONTENT_KEY]:
            raise DataError(
                local,
                f"encoder files changed since the KB was built (sha256 {actual[:12]}…, the KB's manifest says "
                f"{str(spec[CONTENT_KEY])[:12]}…): rebuild the KB with `r1router kb build`",
            )
    return ENCODER_FAMILIES[family](spec, device, root, batch_size)


def encoder_fingerprint(spec: Mapping[str, Any], root: Path = Path(".")) -> str:
    """Changes when the spec or a local encoder's weights change (retrained CLIP, new model)."""
    local = Path(spec["path"]) if "path" in spec else None
    if local is not None and not local.is_absolute():
        local = Path(root) / local
    weights = tree_sha256(local) if local is not None and local.exists() else ""
    return text_sha256(repr(sorted(spec.items())) + weights)

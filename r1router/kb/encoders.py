"""Encoders named by a small spec dict, so a built KB records how to embed its queries.

Spec forms:
- `{"family": "text", "path": "models/text_encoder"}` (any sentence-transformers dir or id)
- `{"family": "image", "path": "data/kb/image-encoder"}` (an open_clip model trained here)
- `{"family": "image", "name": "ViT-B-32", "pretrained": "openai"}` (pretrained open_clip)

The KB's kind decides the family (`KBKind.encoder`): a spec may leave
`family` out, and one that names another family is refused unless the kind
allows it (`KBKind.other_encoders`), so a table KB is never embedded by CLIP
through a params typo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from r1router.errors import ConfigError
from r1router.hashing import text_sha256, tree_sha256
from r1router.kb.kinds import KBKind

EncoderLoader = Callable[[Mapping[str, Any], str, Path], Any]  # (spec, device, root) -> encoder


def _text_encoder(spec: Mapping[str, Any], device: str, root: Path) -> Any:
    from r1router.encoders.text import TextEncoder

    return TextEncoder(str(_resolve(spec["path"], root)), device=device)


def _image_encoder(spec: Mapping[str, Any], device: str, root: Path) -> Any:
    from r1router.encoders.clip import ClipEncoder

    if "path" in spec:
        return ClipEncoder.load(_resolve(spec["path"], root), device=device)
    return ClipEncoder.from_pretrained(spec["name"], spec.get("pretrained"), device=device)


ENCODER_FAMILIES: dict[str, EncoderLoader] = {"text": _text_encoder, "image": _image_encoder}


def load_encoder(spec: Mapping[str, Any], kind: KBKind, device: str, root: Path = Path(".")) -> Any:
    """Load the encoder `spec` describes for a KB of `kind`, in the family the kind names."""
    family = spec.get("family", kind.encoder)
    if family != kind.encoder and family not in kind.other_encoders:
        raise ConfigError(
            f"a {kind.name} KB is embedded by a '{kind.encoder}' encoder, but {dict(spec)!r} names '{family}'"
        )
    if family not in ENCODER_FAMILIES:
        known = sorted(ENCODER_FAMILIES)
        raise ConfigError(f"unknown encoder family '{family}' of KB kind '{kind.name}' (known: {known})")
    return ENCODER_FAMILIES[family](spec, device, root)


def encoder_fingerprint(spec: dict[str, Any], root: Path = Path(".")) -> str:
    """Changes when the spec or a local encoder's weights change (retrained CLIP, new model)."""
    local = _resolve(spec["path"], root) if "path" in spec else None
    weights = tree_sha256(local) if local is not None and local.exists() else ""
    return text_sha256(repr(sorted(spec.items())) + weights)


def _resolve(path: str, root: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate

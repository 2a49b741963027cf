"""Encoders named by a small spec dict, so a built KB records how to embed its queries.

Spec forms:
- `{"family": "text", "path": "models/text_encoder"}` (any sentence-transformers dir or id)
- `{"family": "image", "path": "data/kb/image-encoder"}` (an open_clip model trained here)
- `{"family": "image", "name": "ViT-B-32", "pretrained": "openai"}` (pretrained open_clip)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1router.errors import ConfigError
from r1router.hashing import text_sha256, tree_sha256


def load_encoder(spec: dict[str, Any], device: str, root: Path = Path(".")) -> Any:
    family = spec.get("family")
    if family == "text":
        from r1router.encoders.text import TextEncoder

        return TextEncoder(str(_resolve(spec["path"], root)), device=device)
    if family == "image":
        from r1router.encoders.clip import ClipEncoder

        if "path" in spec:
            return ClipEncoder.load(_resolve(spec["path"], root), device=device)
        return ClipEncoder.from_pretrained(spec["name"], spec.get("pretrained"), device=device)
    raise ConfigError(f"unknown encoder family in {spec!r} (use 'text' or 'image')")


def encoder_fingerprint(spec: dict[str, Any], root: Path = Path(".")) -> str:
    """Changes when the spec or a local encoder's weights change (retrained CLIP, new model)."""
    local = _resolve(spec["path"], root) if "path" in spec else None
    weights = tree_sha256(local) if local is not None and local.exists() else ""
    return text_sha256(repr(sorted(spec.items())) + weights)


def _resolve(path: str, root: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate

"""One place that decides CPU or GPU, so every stage records the same choice."""

from __future__ import annotations

import torch

from r1router.errors import ConfigError


def resolve_device(preference: str = "auto") -> str:
    """`auto` picks CUDA when present; an explicit `cuda` without a GPU is an error, not a fallback."""
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{preference}' requested but no CUDA GPU is available")
    if preference not in {"cpu"} and not preference.startswith("cuda"):
        raise ConfigError(f"unknown device '{preference}' (use auto, cpu or cuda[:N])")
    return preference

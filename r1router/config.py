"""params.yaml: one file, one active profile, one section per pipeline stage.

Layout::

    profile: demo
    profiles:
      demo:
        world: {...}
        models: {...}
        kb: {...}

A DVC stage declares `profile` and `profiles.${profile}.<stage>`, so editing a
section of an inactive profile re-runs nothing, and switching the profile is a
one-key change (`dvc exp run -S profile=smoke`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from r1router.errors import ConfigError

PARAMS_ENV = "R1ROUTER_PARAMS"
DEFAULT_PARAMS = Path("params.yaml")


def params_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(PARAMS_ENV) or DEFAULT_PARAMS)


def load_profile(path: str | Path | None = None) -> tuple[str, dict[str, Any]]:
    """Return `(profile_name, profile_sections)` from params.yaml."""
    source = params_path(path)
    if not source.is_file():
        raise ConfigError(f"{source}: params file not found")
    with open(source, encoding="utf-8") as handle:
        params = yaml.safe_load(handle) or {}
    name = params.get("profile")
    profiles = params.get("profiles") or {}
    if name not in profiles:
        raise ConfigError(f"{source}: profile '{name}' is not one of {sorted(profiles)}")
    return name, profiles[name]


def stage_params(stage: str, path: str | Path | None = None) -> dict[str, Any]:
    """The section of the active profile that one stage reads (and DVC tracks)."""
    name, sections = load_profile(path)
    if stage not in sections:
        raise ConfigError(f"{params_path(path)}: profile '{name}' has no '{stage}' section")
    return sections[stage]

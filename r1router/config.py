"""params.yaml: one file, one active profile, one section per pipeline stage, and the pipeline's paths.

Layout::

    profile: demo
    paths:                    # where the pipeline reads and writes, the same for every profile
      world: data/world
      kb: data/kb
      ...
    profiles:
      demo:
        world: {...}
        kb: {out_dir: ${paths.kb}, ...}

A DVC stage declares `profile`, `paths` and `profiles.${profile}.<stage>`, so
editing a section of an inactive profile re-runs nothing, and switching the
profile is a one-key change (`dvc exp run -S profile=smoke`).

A location is written once, under `paths`: dvc.yaml interpolates it in its
deps and outs (`${paths.kb}`; DVC allows no `${profiles.${profile}...}`
nesting, hence a top-level section), and a stage section refers to it with the
same syntax, which `load_profile` expands (`${paths.kb}/image-encoder`). DVC
tracks the reference as written and `paths` itself, so moving a directory
re-runs the stages that use it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from r1router.errors import ConfigError

PARAMS_ENV = "R1ROUTER_PARAMS"
DEFAULT_PARAMS = Path("params.yaml")
_PATH_REF = re.compile(r"\$\{paths\.([A-Za-z0-9_.-]+)\}")


def params_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(PARAMS_ENV) or DEFAULT_PARAMS)


def _read(source: Path) -> dict[str, Any]:
    if not source.is_file():
        raise ConfigError(f"{source}: params file not found")
    with open(source, encoding="utf-8") as handle:
        params = yaml.safe_load(handle) or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    return dict(params)


def _lookup(paths: Mapping[str, Any], name: str, source: Path, where: str) -> str:
    value: Any = paths
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ConfigError(f"{source}: {where} refers to ${{paths.{name}}}, which `paths` does not define")
        value = value[part]
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {where} refers to ${{paths.{name}}}, which is not a single path")
    return value


def expand_paths(value: Any, paths: Mapping[str, Any], source: Path, where: str) -> Any:
    """`value` with every `${paths.NAME}` in its strings replaced, recursively; an unknown name is an error."""
    if isinstance(value, str):
        return _PATH_REF.sub(lambda match: _lookup(paths, match.group(1), source, where), value)
    if isinstance(value, Mapping):
        return {key: expand_paths(item, paths, source, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [expand_paths(item, paths, source, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def pipeline_paths(path: str | Path | None = None) -> dict[str, Any]:
    """The `paths` section: every location the pipeline reads or writes, for every profile."""
    source = params_path(path)
    paths = _read(source).get("paths")
    if not isinstance(paths, Mapping):
        raise ConfigError(f"{source}: no `paths` section (where the pipeline reads and writes)")
    return dict(paths)


def load_profile(path: str | Path | None = None) -> tuple[str, dict[str, Any]]:
    """Return `(profile_name, profile_sections)` from params.yaml, `${paths.NAME}` references expanded."""
    source = params_path(path)
    params = _read(source)
    name = params.get("profile")
    profiles = params.get("profiles") or {}
    if name not in profiles:
        raise ConfigError(f"{source}: profile '{name}' is not one of {sorted(profiles)}")
    return name, expand_paths(profiles[name], params.get("paths") or {}, source, f"profiles.{name}")


def stage_params(stage: str, path: str | Path | None = None) -> dict[str, Any]:
    """The section of the active profile that one stage reads (and DVC tracks)."""
    name, sections = load_profile(path)
    if stage not in sections:
        raise ConfigError(f"{params_path(path)}: profile '{name}' has no '{stage}' section")
    return sections[stage]


def metrics_file(name: str, path: str | Path | None = None) -> Path:
    """A stage's metrics file (`paths.metrics.<name>`), the one dvc.yaml lists under its `metrics:`."""
    files = pipeline_paths(path).get("metrics") or {}
    if name not in files:
        raise ConfigError(f"{params_path(path)}: paths.metrics has no '{name}' (has {sorted(files)})")
    return Path(files[name])

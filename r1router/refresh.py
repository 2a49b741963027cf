"""Corpus refresh: fingerprint each source, fetch the changed ones, let DVC re-run what reads them.

A corpus source is named in `profiles.<profile>.refresh.sources` of params.yaml
as `name: {uri, dest}`. `uri` is a local path (relative to the repo), a
`file://` URL, an `http(s)://` URL, or `release:<file>` (a file of the paper's
released data in `$R1ROUTER_RELEASE_DIR`, default `../shared/data/r1router-release`);
`dest` is the in-repo file (or directory)
that a dvc.yaml stage lists as a dep. The fingerprint of a local source is the
sha256 of its content; of a URL, its HTTP validators from a HEAD request (the
ETag, else Last-Modified with Content-Length), so a check downloads nothing.

The recorded fingerprints (the data version) live in a JSON state file and are
written only after the fetch and `dvc repro` both succeeded: a refresh that
fails records nothing, so the next tick sees the same change and tries again.
`dvc repro --downstream <the stages that read a changed dest>` re-runs exactly
those stages and the ones below them whose inputs changed, nothing else.

This module is the core (no Prefect); `flows/refresh.py` wires it into tasks
with retries, and `r1router schedule` serves it on a cron schedule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from r1router.benchmarks.registry import default_release_dir
from r1router.config import load_profile
from r1router.dvcfile import DVC_FILE, consumers, load_stages, producers, topological_order
from r1router.errors import ConfigError, DataError
from r1router.hashing import tree_sha256
from r1router.io import atomic_dir, atomic_path, write_json
from r1router.lineage import lock_entry
from r1router.progress import Progress
from r1router.repro import run_repro

log = logging.getLogger("r1router.refresh")

_MIB = 1 << 20


@dataclass(frozen=True)
class Source:
    """One corpus: where it comes from (`uri`) and the in-repo dep it is fetched to (`dest`)."""

    name: str
    uri: str
    dest: str
    stages: tuple[str, ...]  # the dvc.yaml stages with `dest` among their deps

    @property
    def is_http(self) -> bool:
        return urlparse(self.uri).scheme in ("http", "https")


@dataclass(frozen=True)
class RefreshConfig:
    """The active profile's `refresh` section, validated against dvc.yaml."""

    root: Path
    sources: tuple[Source, ...]
    state: Path
    http_timeout_seconds: float
    retries: int
    retry_delay_seconds: tuple[float, ...]


def load_config(root: str | Path = ".") -> RefreshConfig:
    """Read and check `profiles.<profile>.refresh` of `root/params.yaml`.

    Every dest must be a dep of some dvc.yaml stage (otherwise a change would
    re-run nothing) and an output of none (DVC would overwrite the fetched file).
    """
    root = Path(root).resolve()
    params_file = root / "params.yaml"
    profile, sections = load_profile(params_file)
    key = f"profiles.{profile}.refresh"
    section = sections.get("refresh")
    if not isinstance(section, Mapping):
        raise ConfigError(f"{params_file}: {key} is missing (it needs at least 'sources: {{}}')")
    for field in ("state", "http_timeout_seconds", "retries", "retry_delay_seconds", "sources"):
        if field not in section:
            raise ConfigError(f"{params_file}: {key}.{field} is missing")
    if not isinstance(section["sources"], Mapping):
        raise ConfigError(f"{params_file}: {key}.sources must be a mapping of name: {{uri, dest}}")
    stages = load_stages(root) if section["sources"] else {}
    sources = []
    for name, spec in section["sources"].items():
        where = f"{params_file}: {key}.sources.{name}"
        if (
            not isinstance(spec, Mapping)
            or not isinstance(spec.get("uri"), str)
            or not isinstance(spec.get("dest"), str)
        ):
            raise ConfigError(f"{where}: needs string fields 'uri' and 'dest'")
        scheme = urlparse(spec["uri"]).scheme
        if scheme not in ("", "file", "http", "https", "release"):
            raise ConfigError(
                f"{where}.uri: scheme '{scheme}' is not a local path, file://, release:, http:// or https://"
            )
        dest = PurePosixPath(spec["dest"])
        if dest.is_absolute() or ".." in dest.parts:
            raise ConfigError(f"{where}.dest: '{dest}' must be a path inside the repo")
        readers = consumers(stages, str(dest))
        if not readers:
            raise ConfigError(
                f"{where}.dest: '{dest}' is a dep of no stage in {root / DVC_FILE}, so a change re-runs nothing"
            )
        if writers := producers(stages, str(dest)):
            raise ConfigError(f"{where}.dest: '{dest}' is an output of stage {writers}; DVC would overwrite it")
        sources.append(Source(str(name), spec["uri"], dest.as_posix(), tuple(readers)))
    return RefreshConfig(
        root=root,
        sources=tuple(sources),
        state=root / section["state"],
        http_timeout_seconds=float(section["http_timeout_seconds"]),
        retries=int(section["retries"]),
        retry_delay_seconds=tuple(float(s) for s in section["retry_delay_seconds"]),
    )


def _local_path(uri: str, root: Path) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme == "release":
        return default_release_dir() / unquote(parsed.path)
    path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)
    return path if path.is_absolute() else root / path


def _validators(headers: Message) -> str | None:
    """An HTTP response's content version: the ETag, else Last-Modified with Content-Length."""
    if etag := headers.get("ETag"):
        return f"etag:{etag}"
    modified, length = headers.get("Last-Modified"), headers.get("Content-Length")
    if modified and length:
        return f"modified:{modified};length:{length}"
    return None


def fingerprint(source: Source, root: Path, timeout: float) -> str:
    """The source's current version: its content's sha256, or its HTTP validators (HEAD, no download).

    A server that sends neither an ETag nor Last-Modified + Content-Length is
    fingerprinted by downloading and hashing the body, so a change is never missed.
    """
    if not source.is_http:
        path = _local_path(source.uri, root)
        if not path.exists():
            raise DataError(path, f"corpus source '{source.name}' not found", field="uri")
        return f"sha256:{tree_sha256(path)}"
    with urllib.request.urlopen(urllib.request.Request(source.uri, method="HEAD"), timeout=timeout) as response:
        validators = _validators(response.headers)
    if validators is not None:
        return validators
    log.info("%s sends no ETag or Last-Modified: hashing its body", source.uri)
    digest = hashlib.sha256()
    with urllib.request.urlopen(source.uri, timeout=timeout) as response:
        while chunk := response.read(_MIB):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def fetch(source: Source, root: Path, timeout: float) -> str:
    """Copy or download the source over its dest atomically; return the fingerprint of what was fetched.

    The fingerprint comes from the fetch itself (the GET's validators, or the
    copied content), not from the earlier check, so a source that changes in
    between is recorded as what the repo actually holds.
    """
    dest = root / source.dest
    if not source.is_http:
        path = _local_path(source.uri, root)
        if not path.exists():
            raise DataError(path, f"corpus source '{source.name}' not found", field="uri")
        if path.resolve() != dest.resolve():
            if path.is_dir():
                with atomic_dir(dest) as tmp:
                    shutil.copytree(path, tmp, dirs_exist_ok=True)
            else:
                with atomic_path(dest) as tmp:
                    shutil.copyfile(path, tmp)
        return f"sha256:{tree_sha256(dest)}"
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(source.uri, timeout=timeout) as response:
        length = int(response.headers.get("Content-Length") or 0) or None
        progress = Progress(math.ceil(length / _MIB) if length else None, f"fetch {source.name}", unit="MiB")
        with atomic_path(dest) as tmp, open(tmp, "wb") as out:
            while chunk := response.read(_MIB):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                progress.update(1)
            if length is not None and received != length:
                raise DataError(source.uri, f"download ended after {received} of {length} bytes")
        return _validators(response.headers) or f"sha256:{digest.hexdigest()}"


def read_state(path: Path) -> dict[str, dict[str, str]]:
    """The recorded `{source: {uri, dest, fingerprint}}`; empty before the first refresh."""
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from None
    records = document.get("sources") if isinstance(document, dict) else None
    if not isinstance(records, dict):
        raise DataError(path, "expected an object with a 'sources' object", field="sources")
    for name, record in records.items():
        for field in ("uri", "dest", "fingerprint"):
            if not isinstance(record, dict) or not isinstance(record.get(field), str):
                raise DataError(path, "expected a string", field=f"sources.{name}.{field}")
    return records


def write_state(path: Path, records: Mapping[str, Mapping[str, str]]) -> None:
    write_json(path, {"sources": dict(records)})


def record(source: Source, fingerprint: str) -> dict[str, str]:
    return {"uri": source.uri, "dest": source.dest, "fingerprint": fingerprint}


def is_stale(source: Source, current: str, state: Mapping[str, Any], root: Path) -> bool:
    """True when the source's uri, dest or fingerprint differ from the record, or its dest is gone."""
    return state.get(source.name) != record(source, current) or not (root / source.dest).exists()


def repro_downstream(root: Path, stages: list[str]) -> list[str]:
    """`dvc repro --downstream <stages>` as one pipeline run (`r1router.repro`); the stages it re-ran.

    `--downstream` starts from the given stages and never re-runs a stage above
    them; DVC still skips any stage below whose deps did not change. A stage
    that ran has new dep hashes, so its dvc.lock entry changes: comparing the
    entries before and after names exactly the stages that ran (in pipeline order).
    """
    pipeline = load_stages(root)
    before = {name: lock_entry(name, root) for name in pipeline}
    run_repro(["--downstream", *stages], root)
    return [name for name in topological_order(pipeline) if lock_entry(name, root) != before[name]]


def fetch_missing(root: str | Path = ".") -> list[str]:
    """Fetch every source of the active profile whose dest is absent; the names fetched.

    `r1router repro` calls this first, so a fresh clone builds offline from
    local sources (the release profile's) without a refresh tick; a present
    dest is left alone (a refresh decides whether it is stale). Nothing is
    recorded in the refresh state: the next refresh still checks every source.
    """
    _, sections = load_profile(Path(root) / "params.yaml")
    if not (sections.get("refresh") or {}).get("sources"):  # a project with no sources has nothing to fetch
        return []
    config = load_config(root)
    fetched = []
    for source in config.sources:
        if not (config.root / source.dest).exists():
            log.info("fetching missing corpus source %s → %s", source.name, source.dest)
            fetch(source, config.root, config.http_timeout_seconds)
            fetched.append(source.name)
    return fetched

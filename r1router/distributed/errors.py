"""A worker's exception, brought back to the driver as itself.

Ray re-creates a task's exception by calling its class with `args`, which
fails for this project's errors (`DataError(path, message, line=…)`): the user
would get Ray's "Failed to deserialize exception" instead of the file and line
of their bad input. Workers return a `Raised` instead; it rebuilds the exception
without calling `__init__`, the worker's traceback attached as a note.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

Result = TypeVar("Result")


@dataclass(frozen=True)
class Raised:
    kind: type[BaseException]
    args: tuple[Any, ...]
    state: dict[str, Any]
    where: str  # the worker's traceback

    def error(self) -> BaseException:
        error = self.kind.__new__(self.kind)
        error.args = self.args
        error.__dict__.update(self.state)
        error.add_note(f"raised on a Ray worker:\n{self.where}")
        return error


def catching(fn: Callable[..., Result], *args: Any) -> Result | Raised:
    """`fn(*args)` run on a worker: its value, or what it raised as a `Raised`."""
    try:
        return fn(*args)
    except Exception as error:
        return Raised(type(error), error.args, dict(vars(error)), traceback.format_exc())


def unwrap(value: Result | Raised) -> Result:
    """On the driver: the worker's value, or its exception raised here."""
    if isinstance(value, Raised):
        raise value.error()
    return value

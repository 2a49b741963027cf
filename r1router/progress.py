"""Progress for long loops: a terminal bar plus periodic log lines.

The bar serves a person at a terminal; the log lines (count, rate, ETA) serve
everything that only sees logs: DVC output, CI, Prefect's run logs.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
log = logging.getLogger("r1router.progress")


def _eta(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


def _rate(per_second: float, unit: str) -> str:
    """Units per second, or seconds per unit when a unit takes longer than a second (a training step)."""
    if 0 < per_second < 1:
        return f"{1 / per_second:.1f} s/{unit}"
    return f"{per_second:.1f} {unit}/s"


class Progress:
    """Count units of work; report rate and ETA every `log_every` seconds."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", log_every: float = 15.0):
        self.total = total
        self.desc = desc
        self.unit = unit
        self.log_every = log_every
        self.done = 0
        self._start = time.monotonic()
        self._last_log = self._start
        self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty())

    def update(self, n: int = 1) -> None:
        self.done += n
        self._bar.update(n)
        now = time.monotonic()
        if now - self._last_log >= self.log_every:
            self._last_log = now
            log.info("%s", self.status())

    def status(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.desc}: {self.done}"
        if self.total:
            remaining = (self.total - self.done) / rate if rate > 0 else float("inf")
            eta = _eta(remaining) if remaining != float("inf") else "?"
            text += f"/{self.total} ({100 * self.done / self.total:.0f}%)"
            text += f", {_rate(rate, self.unit)}, ETA {eta}"
        else:
            text += f", {_rate(rate, self.unit)}"
        return text

    def close(self, stopped_by: BaseException | None = None) -> None:
        """Close the bar and log the last line: "done in" only when the work ended, else what stopped it."""
        self._bar.close()
        elapsed = _eta(time.monotonic() - self._start)
        if stopped_by is None:
            log.info("%s (done in %s)", self.status(), elapsed)
        else:
            reason = "interrupted" if isinstance(stopped_by, KeyboardInterrupt) else type(stopped_by).__name__
            log.info("%s (stopped after %s: %s)", self.status(), elapsed, reason)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        self.close(exc)


def track(items: Iterable[T], total: int | None, desc: str, unit: str = "it") -> Iterator[T]:
    with Progress(total, desc, unit) as progress:
        for item in items:
            yield item
            progress.update()

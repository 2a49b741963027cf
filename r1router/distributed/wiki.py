"""The enwiki dump's bz2 streams parsed on Ray tasks, handed back in unit order.

With the multistream index every stream decompresses on its own, so a task
takes a run of consecutive streams (a byte range of the dump) and returns
their records and counts. Results are taken in submission order with a
bounded number of tasks in flight: the `ShardWriter` gets the units exactly
as the single-process walk gives them (same shards, same bytes, same resume
points) while memory holds only the window's records. A task whose worker
dies is retried by Ray (`max_retries`); the other ranges are not redone.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from r1router.corpus.wiki import ParsedUnit, StreamLayout, parse_streams
from r1router.distributed.engine import Engine, ray_cluster
from r1router.distributed.errors import catching, unwrap

MAX_STREAMS_PER_TASK = 16  # 1,600 pages of a real dump: seconds of work against milliseconds of task overhead
TASKS_PER_WORKER = 4  # a short dump still gives every worker several tasks
IN_FLIGHT_PER_WORKER = 2  # submitted ahead of the writer: workers stay busy, memory stays bounded
RETRIES = 3

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_order(fn: Callable[[Item], Result], items: Iterable[Item], engine: Engine) -> Iterator[Result]:
    """`fn(item)` for each item on Ray, yielded in the items' order, at most `IN_FLIGHT_PER_WORKER` per worker ahead."""
    import ray

    with ray_cluster(engine):
        remote = ray.remote(num_cpus=1, max_retries=RETRIES)(catching)
        pending: deque[Any] = deque()
        for item in items:
            pending.append(remote.remote(fn, item))
            if len(pending) >= engine.workers * IN_FLIGHT_PER_WORKER:
                yield unwrap(ray.get(pending.popleft()))
        while pending:
            yield unwrap(ray.get(pending.popleft()))


def units_on_ray(
    dump: Path,
    layout: StreamLayout,
    skip: Callable[[int], bool],
    engine: Engine,
    redirects: str,
    window: int,
    stride: int,
) -> Iterator[ParsedUnit]:
    """Every unit `skip` does not rule out, parsed on the cluster, in unit order (workers read `dump` by path)."""
    todo = [(unit, start, end) for unit, (start, end) in enumerate(layout.bounds) if not skip(unit)]
    size = max(1, min(MAX_STREAMS_PER_TASK, math.ceil(len(todo) / (engine.workers * TASKS_PER_WORKER))))
    ranges = [todo[i : i + size] for i in range(0, len(todo), size)]
    parse = partial(parse_streams, Path(dump).resolve(), layout.header, redirects, window, stride)
    for parsed in map_in_order(parse, ranges, engine):
        yield from parsed

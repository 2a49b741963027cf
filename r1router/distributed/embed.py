"""A KB's missing embedding shards, computed on Ray actors and written where `embedded` finds them.

The records are cut exactly as `r1router.kb.embed.embedded` cuts them,
into the same content-keyed cache entry; shards already there are skipped
(per-shard resume). Each actor loads the encoder once and embeds whole shards;
the driver writes each shard as it arrives, so workers need the encoder but
not the cache directory, and a killed run keeps every shard it finished. An
actor whose process dies is restarted and only its shard is retried. The
caller then runs `embedded` as usual: it finds every shard cached, and
the KB is the single-process one byte for byte (both write through `save_shard`,
which rounds the actors' float32 vectors to the cache's float16).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from r1router.distributed.engine import Engine, ray_cluster, worker_resources
from r1router.distributed.errors import Raised, catching, unwrap
from r1router.kb.embed import (
    EncodeShard,
    cache_lock,
    entry_dir,
    loaded_on_first_use,
    missing_shards,
    prepare_entry,
    save_shard,
    shard_bounds,
    shard_path,
)
from r1router.progress import Progress

RESTARTS = 3  # a worker process that dies is replaced this often; its shard is retried as often


class ShardActor:
    """One Ray worker: the encoder `make_encode` loads, kept for every shard this worker embeds.

    Loaded at the first shard, not in `__init__`: a load error (a missing
    encoder directory) then reaches the driver as itself, like any shard's error.
    """

    def __init__(self, make_encode: Callable[[], EncodeShard]):
        self._encode = loaded_on_first_use(make_encode)

    def embed(self, index: int, records: list[dict[str, Any]]) -> tuple[int, np.ndarray] | Raised:
        return catching(lambda: (index, np.asarray(self._encode(records), dtype=np.float32)))


def embed_missing_shards(
    records: Sequence[dict[str, Any]],
    make_encode: Callable[[], EncodeShard],
    cache_dir: Path,
    fingerprint: str,
    *,
    engine: Engine,
    device: str,
    shard_size: int = 2048,
    owner: str | None = None,
    desc: str = "embed on ray",
) -> dict[str, int]:
    """Embed the shards of `records` not yet in the cache on the engine's Ray cluster; return reused/computed counts.

    `make_encode` is pickled to every worker and called there once: it loads the
    encoder (by path: a worker must see the encoder directory, not the cache).
    """
    import ray
    from ray.util import ActorPool

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    entry = entry_dir(cache_dir, fingerprint, shard_size)
    bounds = shard_bounds(len(records), shard_size)
    with cache_lock(cache_dir):
        prepare_entry(entry, fingerprint, shard_size, owner)
        todo = missing_shards(entry, bounds)
        if todo:
            with ray_cluster(engine), Progress(sum(bounds[i][1] - bounds[i][0] for i in todo), desc, "rec") as progress:
                actor = ray.remote(max_restarts=RESTARTS, max_task_retries=RESTARTS, **worker_resources(device))(
                    ShardActor
                )
                pool = ActorPool([actor.remote(make_encode) for _ in range(min(engine.workers, len(todo)))])
                jobs = pool.map_unordered(lambda a, i: a.embed.remote(i, list(records[slice(*bounds[i])])), todo)
                for done in jobs:
                    index, shard = unwrap(done)
                    save_shard(shard_path(entry, index), shard)
                    progress.update(shard.shape[0])
    return {"shards_reused": len(bounds) - len(todo), "shards_computed": len(todo)}

"""Which engine a stage runs on (`distributed: {engine, address, workers}` in its params), and the Ray cluster.

`local` is the single-process path. `ray` attaches to the cluster at `address`
(else `RAY_ADDRESS`, Ray's own variable) or starts a local one with `workers`
CPUs, and shuts down only a cluster it started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from r1router.errors import ConfigError

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Engine:
    kind: str = "local"
    address: str | None = None
    workers: int = 2  # CPUs of a local cluster, and the number of parallel tasks or actors on any cluster

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise ConfigError(f"distributed.engine must be one of {', '.join(ENGINES)}, got {self.kind!r}")
        if self.workers < 1:
            raise ConfigError(f"distributed.workers must be at least 1, got {self.workers}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> Engine:
        """The engine a stage's `distributed` section names; none (or `{}`) is `local`."""
        params = dict(params or {})
        if unknown := sorted(set(params) - {"engine", "address", "workers"}):
            raise ConfigError(f"distributed: unknown option(s) {unknown}")
        return cls(params.get("engine", "local"), params.get("address"), int(params.get("workers", 2)))

    @property
    def is_ray(self) -> bool:
        return self.kind == "ray"


@contextmanager
def ray_cluster(engine: Engine) -> Iterator[None]:
    """Connect to the engine's cluster for the block; a session already open in this process is used as is."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = engine.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level="WARNING")
    else:
        ray.init(num_cpus=engine.workers, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def worker_resources(device: str) -> dict[str, float]:
    """What one worker asks the cluster for: a whole GPU when it computes on one and the cluster has GPUs."""
    import ray

    if device.startswith("cuda") and ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_gpus": 1}
    return {"num_cpus": 1}

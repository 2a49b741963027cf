"""The one task shape of the training stages: run a trainer on its inputs, stamp the router it wrote.

`sft` and `grpo` each make theirs with `training_task`, so both cache, time
out and stamp their output the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import task

from r1router.router.generation_config import GenerationConfig
from tasks.caching import CACHE_POLICY, write_stamp

Trainer = Callable[..., dict[str, Any]]  # train_sft / train_grpo: paths as keywords, `settings`, `decision`


def training_task(name: str, train: Trainer) -> Any:
    """A Prefect task `name` that runs `train` on `inputs` and `settings`, then stamps `inputs["out_dir"]`."""

    @task(name=name, cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=24 * 3600)
    def train_task(
        inputs: dict[str, str], settings: dict[str, Any], decision: dict[str, Any], data: str, code: str
    ) -> dict[str, Any]:
        """`inputs` are the trainer's paths; `data` (their content) and `code` key the cache, unused otherwise.

        `decision` (a `GenerationConfig` as plain values, so the cache keys on
        them) is how the held-out check generates. An interrupted run resumes
        inside the trainer from its last checkpoint.
        """
        result = train(**inputs, settings=settings, decision=GenerationConfig(**decision))
        write_stamp(inputs["out_dir"])
        return result

    return train_task

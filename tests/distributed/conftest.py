"""One local Ray cluster of 2 CPUs for the package (CI's 2 cores), shut down at its end.

`ray_cluster` uses a session already open in the process, so every test here
runs on this one instead of paying Ray's start-up each time.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()

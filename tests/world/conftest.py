"""One tiny world per test session: building it takes a few seconds, reading it is free."""

from __future__ import annotations

import pytest

from r1router.world.build import build_world


@pytest.fixture(scope="session")
def tiny_seed() -> int:
    return 7


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory, tiny_seed):
    """(directory, counts) of a tiny world built with `tiny_seed`."""
    out = tmp_path_factory.mktemp("world") / "tiny"
    return out, build_world(out, seed=tiny_seed, size="tiny")

"""The paper's released Step-GRPO rows: the reference for every prompt text and user-turn format."""

import json

import pytest

from r1router.benchmarks import default_release_dir

SAMPLE = "stepgrpo_trajectories_sample.jsonl"


@pytest.fixture(scope="session")
def trajectories() -> list[dict]:
    path = default_release_dir() / SAMPLE
    if not path.is_file():
        pytest.skip(f"released step data not found at {path} (set R1ROUTER_RELEASE_DIR)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

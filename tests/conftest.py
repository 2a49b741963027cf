"""Fixtures every test package shares: the demo policy and text encoder, and the paper's released step rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1router.benchmarks import default_release_dir
from r1router.config import stage_params
from r1router.models.pull import pull_model

REPO = Path(__file__).resolve().parents[1]
POLICY_DIR = REPO / "models" / "policy"
RELEASED_SAMPLE = "stepgrpo_trajectories_sample.jsonl"


@pytest.fixture(scope="session")
def smollm_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct: the pipeline's copy when `dvc repro` has run, else pulled here (CI's fresh clone)."""
    if (POLICY_DIR / "config.json").is_file():
        return POLICY_DIR
    spec = stage_params("models", REPO / "params.yaml")["specs"]["policy"]
    models_dir = tmp_path_factory.mktemp("models")
    pull_model("policy", spec, models_dir)
    return models_dir / "policy"


@pytest.fixture(scope="session")
def text_encoder_dir(tmp_path_factory) -> Path:
    """all-MiniLM-L6-v2 (the demo text KB's encoder): the pipeline's copy, else pulled here like `smollm_dir`."""
    pipeline_copy = REPO / "models" / "text_encoder"
    if (pipeline_copy / "config.json").is_file():
        return pipeline_copy
    spec = stage_params("models", REPO / "params.yaml")["specs"]["text_encoder"]
    models_dir = tmp_path_factory.mktemp("models")
    pull_model("text_encoder", spec, models_dir)
    return models_dir / "text_encoder"


@pytest.fixture(scope="session")
def released_sample() -> Path:
    """The released Step-GRPO trajectory sample in `../shared` (override with R1ROUTER_RELEASE_DIR)."""
    path = default_release_dir() / RELEASED_SAMPLE
    if not path.is_file():
        pytest.skip(f"released step data not found at {path} (set R1ROUTER_RELEASE_DIR)")
    return path


@pytest.fixture(scope="session")
def trajectories(released_sample: Path) -> list[dict]:
    """The released sample's records as parsed JSON."""
    return [json.loads(line) for line in released_sample.read_text(encoding="utf-8").splitlines() if line.strip()]

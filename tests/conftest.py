"""Fixtures every test package shares: the demo policy and text encoder, and the paper's released step rows."""

from __future__ import annotations

import json
import os
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


def require_release(path: Path, what: str) -> None:
    """Skip a test whose released data is missing on a developer's machine; fail it in CI (`CI=true`).

    CI always has `../shared`: there a missing release is a broken setup, and
    skipping would let the tests that read it pass unseen.
    """
    if path.exists():
        return
    message = f"{what} not found at {path} (set R1ROUTER_RELEASE_DIR)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}; CI must have it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def release_dir() -> Path:
    """The paper's released data in `../shared` (override with R1ROUTER_RELEASE_DIR)."""
    directory = default_release_dir()
    require_release(directory, "the paper's released data")
    return directory


@pytest.fixture(scope="session")
def released_sample(release_dir: Path) -> Path:
    """The released Step-GRPO trajectory sample."""
    path = release_dir / RELEASED_SAMPLE
    require_release(path, "released step data")
    return path


@pytest.fixture(scope="session")
def trajectories(released_sample: Path) -> list[dict]:
    """The released sample's records as parsed JSON."""
    return [json.loads(line) for line in released_sample.read_text(encoding="utf-8").splitlines() if line.strip()]

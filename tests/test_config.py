from pathlib import Path

import pytest
import yaml

from r1router.config import load_profile, stage_params
from r1router.errors import ConfigError


def test_repo_params_have_four_profiles_with_the_same_stages():
    params = yaml.safe_load(Path("params.yaml").read_text())
    assert params["profile"] == "demo"
    stages = {name: set(sections) for name, sections in params["profiles"].items()}
    assert set(stages) == {"smoke", "demo", "release", "paper"}
    assert stages["smoke"] == stages["demo"] == stages["paper"]


def test_stage_params_reads_the_active_profile(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(
        yaml.safe_dump({"profile": "b", "profiles": {"a": {"world": {"seed": 1}}, "b": {"world": {"seed": 2}}}})
    )
    assert stage_params("world", path) == {"seed": 2}
    assert load_profile(path)[0] == "b"


def test_unknown_profile_and_stage_are_named(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"profile": "x", "profiles": {"a": {}}}))
    with pytest.raises(ConfigError, match="profile 'x' is not one of"):
        stage_params("world", path)
    path.write_text(yaml.safe_dump({"profile": "a", "profiles": {"a": {}}}))
    with pytest.raises(ConfigError, match="has no 'world' section"):
        stage_params("world", path)

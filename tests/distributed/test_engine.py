"""The `distributed` param: defaults to the single-process path, refuses what it does not know."""

from __future__ import annotations

import pytest

from r1router.distributed.engine import Engine
from r1router.errors import ConfigError


def test_no_section_is_local():
    assert Engine.from_params(None) == Engine("local", None, 2)
    assert not Engine.from_params({}).is_ray


def test_ray_with_an_address():
    engine = Engine.from_params({"engine": "ray", "address": "10.0.0.1:6379", "workers": 8})
    assert engine.is_ray and engine.address == "10.0.0.1:6379" and engine.workers == 8


@pytest.mark.parametrize("params", [{"engine": "dask"}, {"engine": "ray", "workers": 0}, {"engine": "ray", "nodes": 3}])
def test_bad_settings_are_config_errors(params):
    with pytest.raises(ConfigError):
        Engine.from_params(params)

"""Size presets: known names resolve, unknown ones are a ConfigError, presets are self-consistent."""

from __future__ import annotations

import pytest

from r1router.errors import ConfigError
from r1router.world.sizes import SIZES, WorldSize, get_size


def test_presets_exist_and_grow() -> None:
    tiny, small, medium = get_size("tiny"), get_size("small"), get_size("medium")
    assert tiny.questions < small.questions < medium.questions
    assert medium.films == 10 * small.films and medium.questions == 10 * small.questions
    assert set(SIZES) == {"tiny", "small", "medium"}


def test_unknown_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown world size 'huge'"):
        get_size("huge")


def test_too_few_people_for_the_roles_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="roles"):
        WorldSize(
            "odd", countries=2, cities_per_country=2, people=3, films=9, companies=2, landmarks=2, games=1, questions=10
        )

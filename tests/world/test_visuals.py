"""The world's pictures must be reproducible, unique per entity and perturbed like photos."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from r1router.world.visuals import (
    COLORS,
    KINDS,
    describe_visual,
    perturb_image,
    random_visual,
    render_visual,
    visual_key,
)

MAIN = ("primary_color", "secondary_color", "pattern", "emblem", "emblem_color", "emblem_count")


def _specs(kind: str, n: int, seed: int = 0) -> list[dict]:
    rng, taken = random.Random(seed), set()
    return [random_visual(kind, rng, taken) for _ in range(n)]


@pytest.mark.parametrize("kind", KINDS)
def test_specs_are_deterministic_unique_and_separated(kind: str) -> None:
    specs = _specs(kind, 200)
    assert specs == _specs(kind, 200)
    assert len({visual_key(spec) for spec in specs}) == 200
    json.dumps(specs)  # stored as entity attributes
    for i, spec in enumerate(specs):
        assert spec["kind"] == kind and 1 <= spec["emblem_count"] <= 4
        assert len({spec["primary_color"], spec["secondary_color"], spec["emblem_color"]}) == 3
        assert all(colour in COLORS for colour in (spec["primary_color"], spec["secondary_color"]))
        for earlier in specs[:i]:
            assert sum(spec[a] != earlier[a] for a in MAIN) >= 2


def test_shared_taken_set_spans_kinds_and_calls() -> None:
    rng, taken = random.Random(3), set()
    specs = [random_visual(kind, rng, taken) for kind in KINDS for _ in range(30)]
    assert len(taken) == 90 == len({visual_key(spec) for spec in specs})
    again = random_visual("flag", rng, taken)
    assert visual_key(again) in taken and len(taken) == 91


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown visual kind"):
        random_visual("painting", random.Random(0), set())


def test_description_names_every_attribute() -> None:
    spec = {
        "kind": "flag",
        "primary_color": "red",
        "secondary_color": "gold",
        "pattern": "horizontal stripes",
        "emblem": "star",
        "emblem_color": "white",
        "emblem_count": 3,
    }
    assert describe_visual(spec) == "a red field with gold horizontal stripes and three white stars"
    logo = {**spec, "kind": "logo", "pattern": "shield", "primary_color": "orange", "emblem_count": 1}
    assert describe_visual(logo) == "an orange shield on a gold background bearing one white star"
    for kind in KINDS:
        for spec in _specs(kind, 20):
            text = describe_visual(spec)
            assert all(str(spec[a]) in text for a in ("primary_color", "secondary_color", "pattern", "emblem"))


@pytest.mark.parametrize("kind", KINDS)
def test_render_is_deterministic_and_distinct(kind: str) -> None:
    specs = _specs(kind, 12, seed=5)
    images = [render_visual(spec) for spec in specs]
    assert all(image.mode == "RGB" and image.size == (128, 128) for image in images)
    assert np.array_equal(np.asarray(images[0]), np.asarray(render_visual(specs[0])))
    arrays = [np.asarray(image, dtype=np.int16) for image in images]
    for i in range(len(arrays)):
        for j in range(i):
            assert np.abs(arrays[i] - arrays[j]).mean() > 5
    assert render_visual(specs[0], size=64).size == (64, 64)


def test_perturb_is_deterministic_and_changes_the_image() -> None:
    image = render_visual(_specs("landmark", 1)[0])
    first = perturb_image(image, random.Random(7))
    assert np.array_equal(np.asarray(first), np.asarray(perturb_image(image, random.Random(7))))
    assert not np.array_equal(np.asarray(first), np.asarray(perturb_image(image, random.Random(8))))
    assert first.size == image.size and first.mode == "RGB"
    assert np.abs(np.asarray(first, dtype=np.int16) - np.asarray(image, dtype=np.int16)).mean() > 3

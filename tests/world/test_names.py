"""Names are unique, reproducible, and near-twins stay one small edit away."""

from __future__ import annotations

import difflib
import random

from r1router.world.names import NameBank


def test_fresh_names_are_unique_and_reproducible() -> None:
    def draw(seed: int) -> list[str]:
        bank = NameBank(random.Random(seed))
        return [bank.fresh("{w}") for _ in range(300)] + [bank.fresh("{w} Tower") for _ in range(50)]

    names = draw(1)
    assert names == draw(1) and names != draw(2)
    assert len({n.lower() for n in names}) == len(names)
    assert all(n[0].isupper() and n.replace(" ", "").isalpha() for n in names)


def test_variants_are_new_and_similar() -> None:
    bank = NameBank(random.Random(3))
    originals = [bank.fresh("{w}") for _ in range(50)] + [bank.fresh("The {w} Lantern") for _ in range(20)]
    for name in originals:
        twin = bank.variant(name)
        assert twin is not None and twin.lower() != name.lower()
        assert difflib.SequenceMatcher(None, name, twin).ratio() >= 0.75, (name, twin)
        assert not bank.claim(twin)  # the twin is reserved


def test_pattern_variant_keeps_the_word() -> None:
    bank = NameBank(random.Random(0))
    tower = bank.fresh("{w} Tower")
    assert bank.variant(tower, pattern="{w} Dome") == tower.replace("Tower", "Dome")

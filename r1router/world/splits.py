"""Train/dev/test splits, disjoint by question, with held-out entities seen only in test.

About 15% of each entity type is held out. A question that names a
held-out entity anywhere (its text, a sub-question, an intermediate or final
answer) is "unseen" and may only be drawn into test; everything else is
"seen". Test mixes both, so a model can be scored on entities it never
trained on. Names are found by matching the text itself, so no hop, table
cell or distractor value can smuggle a held-out entity into train.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from r1router.world.entities import World
from r1router.world.plan import Candidate

SPLITS = ("train", "dev", "test")
DEV_SHARE = TEST_SHARE = 0.2  # train gets the rest
HOLDOUT_SHARE = 0.15
UNSEEN_SHARE_OF_TEST = 0.5


def held_out_entities(world: World, rng: random.Random) -> set[str]:
    """About HOLDOUT_SHARE of every entity type (at least one where a type has five or more)."""
    held = set()
    for kind in sorted({e.type for e in world.entities.values()}):
        ids = [e.id for e in world.of_type(kind)]
        count = round(len(ids) * HOLDOUT_SHARE) or (1 if len(ids) >= 5 else 0)
        held.update(rng.sample(ids, count))
    return held


class Mentions:
    """Finds the entities a candidate names, by whole-name match (so "Velmora" never matches "Velmoria")."""

    def __init__(self, world: World):
        self._ids = {e.name: e.id for e in world.entities.values()}
        names = sorted(self._ids, key=lambda n: (-len(n), n))  # longest first: alternation takes the first match
        self._pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, names)) + r")(?!\w)")

    def __call__(self, candidate: Candidate) -> set[str]:
        answers = candidate.answer if isinstance(candidate.answer, list) else [candidate.answer]
        parts = [candidate.question, *answers, *(f"{s['sub_question']}\n{s['answer']}" for s in candidate.plan)]
        return {self._ids[name] for name in self._pattern.findall("\n".join(parts))}


def _unique(candidates: list[Candidate]) -> list[Candidate]:
    """First candidate per key and per (question, pictured entity): no fact or question may be in two splits.

    Image questions share wordings ("Who founded this company?"); the picture tells them apart.
    """
    keys, asked, out = set(), set(), []
    for candidate in candidates:
        text = (candidate.question, candidate.image_entity)
        if candidate.key not in keys and text not in asked:
            keys.add(candidate.key)
            asked.add(text)
            out.append(candidate)
    return out


def assign_splits(
    candidates: list[Candidate], target: int, is_unseen: Callable[[Candidate], bool], rng: random.Random
) -> dict[str, list[tuple[Candidate, str]]]:
    """Draw up to `target` questions: {split: [(candidate, "seen" | "unseen")]}.

    Unseen questions fill up to half of test; seen ones fill the rest of test
    and all of train and dev. A small pool shrinks every split in proportion.
    """
    pool = _unique(candidates)
    flags = [is_unseen(c) for c in pool]
    unseen = [c for c, flag in zip(pool, flags, strict=True) if flag]
    seen = [c for c, flag in zip(pool, flags, strict=True) if not flag]
    rng.shuffle(unseen)
    rng.shuffle(seen)
    n_test = round(target * TEST_SHARE)
    n_unseen = min(len(unseen), round(n_test * UNSEEN_SHARE_OF_TEST))
    n_seen = min(len(seen), target - n_unseen)
    scale = n_seen / max(1, target - n_unseen)
    n_dev = round(target * DEV_SHARE * scale)
    n_test_seen = round((n_test - n_unseen) * scale)
    test = [(c, "seen") for c in seen[:n_test_seen]] + [(c, "unseen") for c in unseen[:n_unseen]]
    dev = [(c, "seen") for c in seen[n_test_seen : n_test_seen + n_dev]]
    train = [(c, "seen") for c in seen[n_test_seen + n_dev : n_seen]]
    return {"train": train, "dev": dev, "test": test}

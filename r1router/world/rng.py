"""Independent random streams derived from one world seed.

Each generator stage draws from its own stream, so changing how (say) the
questions are phrased never shifts the entities or the KB text: a stage's
output depends only on the seed, the stage name and its inputs.
"""

from __future__ import annotations

import hashlib
import random


def sub_rng(seed: int, *parts: object) -> random.Random:
    """A `random.Random` seeded from `seed` and a path of names, stable across Python runs and platforms."""
    digest = hashlib.sha256("/".join(str(part) for part in (seed, *parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))

"""Measure the from-scratch CLIP on a synthetic image KB: training time and retrieval recall.

Usage: python scripts/bench_clip.py --entities 100 --epochs 60 [--set key=value ...]

Builds `--entities` visual entities (flags, logos, landmarks in turn) with
captions "Flag of <Name>: <description>", trains `train_clip` on the KB
renderings, then queries the fused KB three ways: a perturbed photo plus a
generic sub-question (the image benchmarks' first hop), the photo alone, and a
text-only question naming the entity ("What colour are the stars on the flag of
Velmora?"). Prints one JSON line of numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import r1router  # noqa: F401  (torchvision compat before open_clip)
from r1router.encoders.clip import ClipEncoder
from r1router.encoders.clip_train import ClipTrainConfig, train_clip
from r1router.world.visuals import KINDS, describe_visual, perturb_image, random_visual, render_visual

SYLLABLES = ("vel", "mor", "ta", "ris", "dor", "vik", "an", "sel", "bra", "kon", "li", "tur", "mes", "zan", "or", "pe")


def _name(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        if name not in taken:
            taken.add(name)
            return name


def _recall(queries: np.ndarray, keys: np.ndarray, gold: list[int], k: int) -> float:
    top = np.argsort(-(queries @ keys.T), axis=1)[:, :k]
    return float(np.mean([g in row for g, row in zip(gold, top, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--photos", type=int, default=3, help="perturbed query photos per entity")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="ClipTrainConfig field=JSON value")
    parser.add_argument("--model-dir", type=Path, help="train here (and resume) instead of a temporary directory")
    args = parser.parse_args()
    cfg = replace(ClipTrainConfig(), **{k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)})

    rng, taken, names = random.Random(args.seed), set(), set()
    entities = []
    for i in range(args.entities):
        kind = KINDS[i % len(KINDS)]
        entities.append((kind, _name(rng, names), random_visual(kind, rng, taken)))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pairs, images = [], []
        for i, (kind, name, spec) in enumerate(entities):
            image = render_visual(spec)
            image.save(root / f"{i}.png")
            images.append(image)
            pairs.append((root / f"{i}.png", f"{kind.capitalize()} of {name}: {describe_visual(spec)}"))
        model_dir = args.model_dir or root / "model"
        started = time.monotonic()
        metrics = train_clip(pairs, model_dir, cfg)
        seconds = time.monotonic() - started
        encoder = ClipEncoder.load(model_dir, device=cfg.device)

    keys = encoder.encode_fused(images, [caption for _, caption in pairs])
    photo_rng = random.Random(args.seed + 1)
    photos, questions, gold = [], [], []
    for i, (kind, _, _) in enumerate(entities):
        for _ in range(args.photos):
            photos.append(perturb_image(images[i], photo_rng))
            questions.append(f"Which {kind} is shown in the image?")
            gold.append(i)
    fused = encoder.encode_fused(photos, questions)
    alone = encoder.encode_images(photos)
    named = encoder.encode_text(
        [f"What colour are the {spec['emblem']}s on the {kind} of {name}?" for kind, name, spec in entities]
    )
    ids = list(range(len(entities)))
    print(
        json.dumps(
            {
                "entities": len(entities),
                "train_seconds": round(seconds, 1),
                "final_loss": round(metrics["loss"][-1], 4),
                "fused_recall@1": _recall(fused, keys, gold, 1),
                "fused_recall@5": _recall(fused, keys, gold, 5),
                "image_only_recall@5": _recall(alone, keys, gold, 5),
                "text_named_recall@5": _recall(named, keys, ids, 5),
                "config": {k: v for k, v in vars(cfg).items() if k != "device"},
            }
        )
    )


if __name__ == "__main__":
    main()

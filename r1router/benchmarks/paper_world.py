"""The paper profile's world: the six released validation files with their images (test), and the released
Step-GRPO trajectories' questions with their gold plans (train).

Every stage after `world` reads a world the same way (`questions/<benchmark>/<split>.jsonl`
and `images/`), so the paper profile needs no special path: its test split is
exactly the paper's evaluation (9,715 questions, copied byte for byte after
validation), and its images folder is what the images step assembled from the
configured sources. Missing images are counted per benchmark and listed by id
in `image-reports/<benchmark>.json`; whether a question without its image is
evaluated (text-only, marked) or stops the evaluation is the evaluate stage's
`missing_images` param.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from r1router.benchmarks.images import SOURCE_KEYS, assemble_images
from r1router.benchmarks.loaders import load_benchmark
from r1router.benchmarks.registry import PAPER_DATASETS
from r1router.corpus.release_questions import write_release_questions
from r1router.errors import ConfigError


def _check_benchmarks(benchmarks: dict[str, Any]) -> None:
    for name, spec in benchmarks.items():
        if name not in PAPER_DATASETS:
            raise ConfigError(f"world.benchmarks.{name}: not a paper dataset ({', '.join(PAPER_DATASETS)})")
        if not isinstance(spec, dict) or not isinstance(spec.get("questions"), str):
            raise ConfigError(f"world.benchmarks.{name}: needs a 'questions' file")
        if spec.get("images") is not None and name not in SOURCE_KEYS:
            raise ConfigError(f"world.benchmarks.{name}: has no images to assemble")


def build_paper_world(
    out_dir: Path,
    *,
    benchmarks: dict[str, Any],
    train: str | None = None,
    salt: str = "",
    on_missing_images: str = "record",
) -> dict[str, Any]:
    """Validate and copy each benchmark's file to `questions/<name>/test.jsonl`, assemble its images; counts."""
    _check_benchmarks(benchmarks)
    out_dir = Path(out_dir)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Any] = {}
    for name, spec in benchmarks.items():
        source = Path(spec["questions"])
        questions = load_benchmark(source, name)  # every line validated before anything is copied
        target = out_dir / "questions" / name / "test.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        counts[name] = {"test": len(questions)}
        if spec.get("images") is not None:
            report = assemble_images(
                name,
                source,
                spec["images"],
                images,
                on_missing=on_missing_images,
                report=out_dir / "image-reports" / f"{name}.json",
            )
            counts[name].update(
                images_wanted=report["wanted"],
                images_missing=len(report["missing"]),
                images_bad=len(report["bad"]),
            )
    if train is not None:  # the released trajectories: all train, the test split is the paper's own files
        counts.update(write_release_questions(Path(train), out_dir, test_fraction=0.0, salt=salt))
    return counts

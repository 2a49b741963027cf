"""Benchmarks: the paper's six validation sets and the demo world's six, behind one loader."""

from r1router.benchmarks.loaders import load_benchmark, load_split, question_image, resolve_image
from r1router.benchmarks.registry import (
    DATASETS,
    DEMO_BENCHMARKS,
    RELEASE_FILES,
    DatasetRule,
    dataset_rule,
    default_release_dir,
    release_path,
)
from r1router.benchmarks.schema import PlanStep, Question

__all__ = [
    "DATASETS",
    "DEMO_BENCHMARKS",
    "RELEASE_FILES",
    "DatasetRule",
    "PlanStep",
    "Question",
    "dataset_rule",
    "default_release_dir",
    "load_benchmark",
    "load_split",
    "question_image",
    "release_path",
    "resolve_image",
]

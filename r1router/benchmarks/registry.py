"""Which datasets exist, how each one's records are shaped, and where the paper's files live.

The six paper datasets differ only in a few ways (answer a string or a list,
an image or not, InfoSeek's `answer_eval`, Dyn-VQA's numbers among its
answers), so one rule per dataset drives one shared validator instead of six loaders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from r1router.errors import ConfigError

RELEASE_ENV = "R1ROUTER_RELEASE_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class DatasetRule:
    """How one dataset's records are shaped and where its gold answers live."""

    answer_is_list: bool  # `answer`: list[str] (true) or a single str
    numeric_answers: bool = False  # Dyn-VQA lists mix numbers (2016) among the answer strings
    answer_eval: bool = False  # InfoSeek: golds come from `answer_eval`, which may hold numeric ranges
    image: bool = False  # `image_id` is required
    id_field: str | None = None  # the record's own id, if the dataset has one
    demo: bool = False  # `question_id` and `gold_plan` are required
    entity_split: bool = False  # `entity_split` (seen / unseen entities) is required: the generated world's


PAPER_DATASETS: dict[str, DatasetRule] = {
    "2wikimultihopqa": DatasetRule(answer_is_list=False),
    "openwikitqa": DatasetRule(answer_is_list=False),
    "tabfact": DatasetRule(answer_is_list=False),
    "infoseek": DatasetRule(answer_is_list=True, answer_eval=True, image=True, id_field="data_id"),
    "dyn_vqa": DatasetRule(answer_is_list=True, numeric_answers=True, image=True, id_field="question_id"),
    "webqa": DatasetRule(answer_is_list=True, image=True),
}

# The demo benchmarks keep their paper dataset's fields and add ids, gold plans and entity splits.
DATASETS: dict[str, DatasetRule] = {
    **PAPER_DATASETS,
    **{
        f"demo_{name}": replace(rule, id_field="question_id", demo=True, entity_split=True)
        for name, rule in PAPER_DATASETS.items()
    },
    # The release profile's questions: the released trajectories' origin questions with their golds and gold
    # plans, grouped by what their gold plans retrieve (r1router/corpus/release.py). Their query images are
    # not released, so none of them carries one.
    **{
        f"release_{group}": DatasetRule(answer_is_list=True, id_field="question_id", demo=True)
        for group in ("text", "table", "visual")
    },
}
DEMO_BENCHMARKS = tuple(name for name in DATASETS if name.startswith("demo_"))

RELEASE_FILES: dict[str, str] = {
    "2wikimultihopqa": "2wikimultihopqa_val.jsonl",
    "openwikitqa": "openwikitqa_val.jsonl",
    "tabfact": "tabfact_val.jsonl",
    "infoseek": "infoseek_val.jsonl",
    "dyn_vqa": "DynVQA_en.202412.jsonl",
    "webqa": "webqa_val.jsonl",
}


def question_file(world_dir: Path, benchmark: str, split: str) -> Path:
    """Where a built world keeps one benchmark's split: `questions/<benchmark>/<split>.jsonl`."""
    return Path(world_dir) / "questions" / benchmark / f"{split}.jsonl"


def split_files(world_dir: Path, split: str) -> dict[str, Path]:
    """Benchmark -> its `split` file, for every benchmark the world holds that split of (`world_benchmarks`)."""
    return {name: question_file(world_dir, name, split) for name in world_benchmarks(world_dir, split)}


def world_benchmarks(world_dir: Path, split: str) -> tuple[str, ...]:
    """The benchmarks a built world holds `split` questions of (`questions/<name>/<split>.jsonl`), in registry order.

    What a stage reads by default. The paper world's train split is the released
    trajectories' questions and its test split the six validation files, so the two differ.
    """
    questions = Path(world_dir) / "questions"
    present = {p.name for p in questions.iterdir() if p.is_dir()} if questions.is_dir() else set()
    if unknown := sorted(present - set(DATASETS)):
        raise ConfigError(f"{questions}: unknown benchmark folder(s) {unknown} (known: {', '.join(DATASETS)})")
    holding = tuple(n for n in DATASETS if n in present and question_file(world_dir, n, split).is_file())
    if not holding:
        raise ConfigError(f"{questions}: no benchmark has a {split} split; was the world stage run?")
    return holding


def dataset_rule(dataset: str) -> DatasetRule:
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset '{dataset}' (known: {', '.join(DATASETS)})")
    return DATASETS[dataset]


def default_release_dir() -> Path:
    """`$R1ROUTER_RELEASE_DIR`, else `../shared/data/r1router-release` beside the checkout (never copied in)."""
    env = os.environ.get(RELEASE_ENV)
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data" / "r1router-release"


def release_path(dataset: str, release_dir: Path | None = None) -> Path:
    """The paper's validation file for a paper dataset."""
    if dataset not in RELEASE_FILES:
        raise ConfigError(f"'{dataset}' has no released file (paper datasets: {', '.join(RELEASE_FILES)})")
    return (release_dir or default_release_dir()) / RELEASE_FILES[dataset]

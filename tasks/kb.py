"""Tasks: train the image-text encoder, build each KB, measure retrieval recall."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from r1router.benchmarks.loaders import load_split
from r1router.distributed.engine import Engine
from r1router.encoders.clip_train import ClipTrainConfig, train_clip
from r1router.io import read_parquet
from r1router.kb.build import build_kb
from r1router.kb.evaluate import retrieval_recall
from r1router.kb.index import IndexConfig
from r1router.kb.retriever import Retrievers
from tasks.caching import CACHE_POLICY, write_stamp


@task(name="train-image-encoder", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=7200)
def train_image_encoder_task(image_kb: str, out_dir: str, train: dict, data: str, code: str) -> dict:
    """Train open_clip from scratch on the image KB's (image, caption) pairs."""
    kb_file = Path(image_kb)
    records = read_parquet(kb_file, columns=["image", "caption"]).to_pylist()
    pairs = [(kb_file.parent / r["image"], r["caption"]) for r in records]
    metrics = train_clip(pairs, Path(out_dir), ClipTrainConfig(**train))
    write_stamp(out_dir)
    return metrics


@task(name="build-kb", cache_policy=CACHE_POLICY - "distributed", persist_result=True, timeout_seconds=7200)
def build_kb_task(
    kind: str,
    input_path: str,
    out_dir: str,
    shard_dir: str,
    encoder: dict,
    index: dict,
    settings: dict,
    data: str,
    code: str,
    distributed: dict | None = None,
) -> dict:
    """`data` (input and encoder content hash) and `code` key the cache; they are not used otherwise.

    The stage owns `out_dir` (a DVC output): it replaces the KB there. `distributed` (the stage's
    engine, `r1router.distributed`) is left out of the key: every engine builds the same bytes.
    """
    manifest, stats = build_kb(
        kind,
        Path(input_path),
        Path(out_dir),
        encoder,
        IndexConfig(**index),
        shard_dir=Path(shard_dir),
        device=settings["device"],
        shard_size=settings["shard_size"],
        batch_size=settings["batch_size"],
        replace=True,
        max_passage_words=settings["max_passage_words"],
        engine=Engine.from_params(distributed),
    )
    write_stamp(out_dir)
    return {"manifest": manifest, "stats": stats}


@task(name="retrieval-recall", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=3600)
def retrieval_recall_task(
    kb_root: str, kinds: list[str], world_dir: str, split: str, k: int, data: str, code: str
) -> dict:
    questions = load_split(Path(world_dir), split)
    retrievers = Retrievers(Path(kb_root), kinds)
    return retrieval_recall(retrievers, questions, Path(world_dir) / "images", k=k)

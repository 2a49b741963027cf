"""Task: run one method over every benchmark and score it."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from r1router.evaluation.harness import evaluate_methods, load_questions
from r1router.kb.retriever import Retrievers
from r1router.router.loop import loop_config
from r1router.router.methods import make_method
from r1router.router.policy import load_policy
from tasks.caching import CACHE_POLICY


@task(name="evaluate-method", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=4 * 3600)
def evaluate_method_task(
    method: str,
    policy_dir: str,
    question_files: dict[str, str],
    image_root: str,
    kb_dir: str,
    kbs: list[str],
    loop: dict,
    limit: int | None,
    predictions_dir: str,
    device: str,
    precision: str,
    data: str,
    code: str,
) -> dict:
    """`data` (questions, KBs, model content hash) and `code` key the cache; they are not used otherwise."""
    questions = load_questions({k: Path(v) for k, v in question_files.items()}, Path(image_root), limit)
    retrievers = Retrievers(Path(kb_dir), kbs, device=device)
    config = loop_config(loop, "evaluate.loop")
    policy = load_policy(policy_dir, device=device, precision=precision)
    runner = make_method(method, policy, retrievers.search, config, tuple(kbs))
    results = evaluate_methods({method: runner}, questions, Path(image_root), Path(predictions_dir), config.max_steps)
    return {benchmark: by_method[method] for benchmark, by_method in results.items()}

"""Task: run one method over every benchmark and score it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from r1router.evaluation.harness import evaluate_methods, load_questions
from r1router.kb.service import open_retrievers
from r1router.router.backends import load_policy
from r1router.router.methods import make_method
from r1router.router.profile import parse_router_config
from tasks.caching import CACHE_POLICY


@task(name="evaluate-method", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=4 * 3600)
def evaluate_method_task(
    method: str,
    policy: str | dict[str, Any],
    question_files: dict[str, str],
    image_root: str,
    kb_dir: str,
    kbs: list[str],
    router: dict[str, Any],
    limit: int | None,
    missing_images: str,
    predictions_dir: str,
    data: str,
    code: str,
) -> dict:
    """Score `method` with the policy its params name.

    `policy` (a model directory or a backend spec, `r1router.router.backends`)
    and `router` (the profile's router section, `r1router.router.profile`) are
    passed as params.yaml gives them, so the cache keys on plain values.
    `data` (questions, KBs, model content hash) and `code` key the cache; they
    are not used otherwise.
    """
    questions = load_questions({k: Path(v) for k, v in question_files.items()}, Path(image_root), limit, missing_images)
    config = parse_router_config(router)
    retrievers = open_retrievers(Path(kb_dir), kbs, config.device, config.retrieval_service)
    spec = config.policy_spec(policy, f"evaluate.methods.{method}")
    runner = make_method(method, load_policy(spec), retrievers.search, config.loop, tuple(kbs))
    results = evaluate_methods(
        {method: runner}, questions, Path(image_root), Path(predictions_dir), config.loop.max_steps
    )
    return {benchmark: by_method[method] for benchmark, by_method in results.items()}

"""Task: Step-GRPO from the SFT router on the step rows → the `step-grpo` router directory."""

from __future__ import annotations

from prefect import task

from r1router.training.grpo import train_grpo
from tasks.caching import CACHE_POLICY, write_stamp


@task(name="grpo", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=24 * 3600)
def grpo_task(
    train_file: str,
    heldout_file: str,
    base_model: str,
    encoder: str,
    out_dir: str,
    checkpoint_dir: str,
    image_root: str,
    settings: dict,
    data: str,
    code: str,
) -> dict:
    """`data` (step rows, SFT router, encoder) and `code` key the cache; they are not used otherwise.

    An interrupted run resumes inside `train_grpo` from its last checkpoint.
    """
    result = train_grpo(train_file, base_model, encoder, out_dir, checkpoint_dir, settings, heldout_file, image_root)
    write_stamp(out_dir)
    return result

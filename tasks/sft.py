"""Task: SFT warm start of the policy on the step rows → the `sft` router directory."""

from __future__ import annotations

from prefect import task

from r1router.training.sft import train_sft
from tasks.caching import CACHE_POLICY, write_stamp


@task(name="sft", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=24 * 3600)
def sft_task(
    train_file: str,
    heldout_file: str,
    base_model: str,
    out_dir: str,
    checkpoint_dir: str,
    image_root: str,
    settings: dict,
    data: str,
    code: str,
) -> dict:
    """`data` (step rows, base model) and `code` key the cache; they are not used otherwise.

    An interrupted run resumes inside `train_sft` from its last checkpoint.
    """
    result = train_sft(train_file, base_model, out_dir, checkpoint_dir, settings, heldout_file, image_root)
    write_stamp(out_dir)
    return result

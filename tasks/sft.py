"""Task: SFT warm start of the policy on the step rows → the `sft` router directory."""

from __future__ import annotations

from r1router.training.sft import train_sft
from tasks.training import training_task

sft_task = training_task("sft", train_sft)

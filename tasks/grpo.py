"""Task: Step-GRPO from the SFT router on the step rows → the `step-grpo` router directory."""

from __future__ import annotations

from r1router.training.grpo import train_grpo
from tasks.training import training_task

grpo_task = training_task("grpo", train_grpo)

"""Flow `grpo`: Step-GRPO from the SFT router → routers/step-grpo, metrics/grpo.json, the curve, the registry."""

from __future__ import annotations

from prefect import flow

from flows.stage import tracked_stage
from flows.training import Curve, publish_training, step_files, trainer_settings
from r1router.router.prompts import PROMPT_VERSION
from tasks.caching import code_version, input_version, run_cached
from tasks.grpo import grpo_task

CURVE = Curve(
    keys=(
        "loss",
        "reward",
        "reward_std",
        "reward/ret",
        "reward/ans",
        "format_rate/ret",
        "format_rate/ans",
        "routing_accuracy",
        "completions/clipped_ratio",
        "completions/mean_length",
        "frac_reward_zero_std",
        "kl",
        "entropy",
        "learning_rate",
    ),
    panels={
        "reward by step type": ("reward", "reward/ret", "reward/ans"),
        "format and routing (train samples)": ("format_rate/ret", "format_rate/ans", "routing_accuracy"),
        "loss": ("loss",),
        "groups and clipping": ("frac_reward_zero_std", "completions/clipped_ratio"),
    },
    title="Step-GRPO",
)


@flow(name="grpo")
def grpo_flow() -> dict:
    with tracked_stage("grpo") as (params, tracking):
        train_file, heldout_file = step_files(params)
        tracking.set_tag("prompt_version", PROMPT_VERSION)
        result = run_cached(
            grpo_task,
            [params["out_dir"]],
            train_file=train_file,
            heldout_file=heldout_file,
            base_model=params["base_model"],
            encoder=params["text_encoder"],
            out_dir=params["out_dir"],
            checkpoint_dir=params["checkpoint_dir"],
            image_root=params["image_root"],
            settings=trainer_settings(params),
            data=input_version(train_file, heldout_file, params["base_model"], params["text_encoder"]),
            code=code_version("grpo"),
        )
        return publish_training("grpo", result, tracking, params, CURVE)


if __name__ == "__main__":
    grpo_flow()

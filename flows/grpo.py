"""Flow `grpo`: Step-GRPO from the SFT router → routers/step-grpo, metrics/grpo.json, the curve, the registry."""

from __future__ import annotations

from prefect import flow

from flows.training import Curve, run_training
from tasks.grpo import grpo_task

# The built-in KB kinds and stop (`rewards.rewards_by_gold_kb`); a profile's own kinds reach MLflow, not this curve.
ROUTE_TARGETS = ("text", "table", "image", "stop")

CURVE = Curve(
    keys=(
        "loss",
        "reward",
        "reward_std",
        "rewards/ret/mean",
        "rewards/ans/mean",
        *(f"rewards/ret/{kb}" for kb in ROUTE_TARGETS),
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
        "reward by step type": ("reward", "rewards/ret/mean", "rewards/ans/mean"),
        "routing reward by gold KB": tuple(f"rewards/ret/{kb}" for kb in ROUTE_TARGETS),
        "format and routing (train samples)": ("format_rate/ret", "format_rate/ans", "routing_accuracy"),
        "loss": ("loss",),
        "groups and clipping": ("frac_reward_zero_std", "completions/clipped_ratio"),
    },
    title="Step-GRPO",
)


@flow(name="grpo")
def grpo_flow() -> dict:
    return run_training("grpo", grpo_task, CURVE, models={"encoder": "text_encoder"})


if __name__ == "__main__":
    grpo_flow()

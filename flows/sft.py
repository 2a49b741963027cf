"""Flow `sft`: SFT warm start on the step rows → routers/sft, metrics/sft.json, the curve, the registry."""

from __future__ import annotations

from prefect import flow

from flows.training import Curve, run_training
from tasks.sft import sft_task

CURVE = Curve(
    keys=("loss", "mean_token_accuracy", "entropy", "grad_norm", "learning_rate"),
    panels={"loss (completion tokens)": ("loss",), "token accuracy": ("mean_token_accuracy",)},
    title="SFT warm start",
)


@flow(name="sft")
def sft_flow() -> dict:
    return run_training("sft", sft_task, CURVE)


if __name__ == "__main__":
    sft_flow()

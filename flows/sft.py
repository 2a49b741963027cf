"""Flow `sft`: SFT warm start on the step rows → routers/sft, metrics/sft.json, the curve, the registry."""

from __future__ import annotations

from prefect import flow

from flows.stage import tracked_stage
from flows.training import Curve, publish_training, step_files, trainer_settings
from r1router.router.prompts import PROMPT_VERSION
from tasks.caching import code_version, input_version, run_cached
from tasks.sft import sft_task

CURVE = Curve(
    keys=("loss", "mean_token_accuracy", "entropy", "grad_norm", "learning_rate"),
    panels={"loss (completion tokens)": ("loss",), "token accuracy": ("mean_token_accuracy",)},
    title="SFT warm start",
)


@flow(name="sft")
def sft_flow() -> dict:
    with tracked_stage("sft") as (params, tracking):
        train_file, heldout_file = step_files(params)
        tracking.set_tag("prompt_version", PROMPT_VERSION)
        result = run_cached(
            sft_task,
            [params["out_dir"]],
            train_file=train_file,
            heldout_file=heldout_file,
            base_model=params["base_model"],
            out_dir=params["out_dir"],
            checkpoint_dir=params["checkpoint_dir"],
            image_root=params["image_root"],
            settings=trainer_settings(params),
            data=input_version(train_file, heldout_file, params["base_model"]),
            code=code_version("sft"),
        )
        return publish_training("sft", result, tracking, params, CURVE)


if __name__ == "__main__":
    sft_flow()

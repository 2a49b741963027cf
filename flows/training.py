"""What the `sft` and `grpo` flows share: the whole flow body (`run_training`), their settings, publishing.

Both flows read their step files and models from params, run their task
(cached on the content of those inputs and on the stage's code), then publish.
The held-out routing check and the registered model generate decisions as the
router does in this profile (`router.loop.decision`, `r1router.router.profile`).
Publishing = the stage's metrics file, its curve (JSON rows for `dvc plots`,
one PNG), the trainer's log history in the stage's MLflow run, the router's
`r1router-train.json` as an artifact, and the router itself in the MLflow
model registry with the run's lineage tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flows.stage import metrics_markdown, numeric_metrics, publish_summary, tracked_stage
from r1router.config import metrics_file, pipeline_paths
from r1router.io import write_json
from r1router.router.generation_config import GenerationConfig
from r1router.router.profile import router_config
from r1router.router.prompts import PROMPT_VERSION
from r1router.training.common import TRAIN_MARKER, log_history_metrics
from r1router.training.curves import curve_png, curve_rows
from r1router.training.registry import register_router
from tasks.caching import code_version, input_version, run_cached

# Keys of a training section that say where things are, not how to train: left out of the trainer's settings
# (and so of its checkpoint fingerprint), so moving a directory does not restart training.
LOCATION_KEYS = frozenset(
    {"steps_dir", "base_model", "text_encoder", "out_dir", "checkpoint_dir", "image_root", "registry"}
)


@dataclass(frozen=True)
class Curve:
    keys: Sequence[str]  # log-history keys kept in metrics/<stage>_curve.json
    panels: Mapping[str, Sequence[str]]  # PNG panel title -> keys drawn in it
    title: str


def trainer_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The stage's params minus locations: what the trainer reads and fingerprints."""
    return {key: value for key, value in params.items() if key not in LOCATION_KEYS}


def step_files(params: Mapping[str, Any]) -> tuple[str, str]:
    steps = Path(params["steps_dir"])
    return str(steps / "train.jsonl"), str(steps / "heldout.jsonl")


def headline_numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    """What a registered router's description leads with: its held-out routing numbers and its training loss."""
    flat = numeric_metrics(metrics)
    return {
        key: value
        for key, value in flat.items()
        if (key.startswith("heldout.") and not key.endswith(".rows")) or key == "train_loss"
    }


def publish_training(
    stage: str,
    result: Mapping[str, Any],
    tracking: Any,
    params: Mapping[str, Any],
    curve: Curve,
    decision: GenerationConfig,
) -> dict[str, Any]:
    """Write the stage's metrics and curve files and its curve PNG (`paths` in params.yaml); log; register.

    The registered model predicts with `decision`, the profile's router decision settings.
    """
    run_id = tracking.active_run().info.run_id
    history = result["log_history"]
    if result.get("mlflow_run_id") != run_id:  # a cached result, or training that ran outside this run
        log_history_metrics(run_id, history)
    metrics = {key: value for key, value in result.items() if key not in {"log_history", "mlflow_run_id"}}
    metrics_path, curve_file = metrics_file(stage), metrics_file(f"{stage}_curve")
    rows = curve_rows(history, curve.keys)
    write_json(metrics_path, metrics)
    write_json(curve_file, rows)
    png_file = Path(pipeline_paths()["training_plots"]) / f"{stage}_curve.png"
    png = curve_png(rows, curve.panels, png_file, curve.title)
    final = numeric_metrics(metrics, prefix="final.")
    tracking.log_metrics(final)
    tracking.set_tags({"train.fingerprint": result["fingerprint"], "train.base_model": params["base_model"]})
    for path in (metrics_path, curve_file, png, Path(params["out_dir"]) / TRAIN_MARKER):
        tracking.log_artifact(str(path))
    name = params["registry"]["name"]
    registered = register_router(params["out_dir"], name, run_id, decision, headline=headline_numbers(metrics))
    publish_summary(stage, metrics_markdown(stage, final), tracking)
    return {**metrics, "registered": registered}


def run_training(stage: str, task: Any, curve: Curve, models: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The body of the `sft` and `grpo` flows: train through `task` (cached), then `publish_training`.

    The task gets the trainer's own keyword arguments (`train_file`, `heldout_file`,
    `base_model`, `out_dir`, `checkpoint_root`, `image_root`, plus `models`: trainer
    argument -> params key of a further model directory, Step-GRPO's `encoder`) as
    `inputs`, the settings, the profile's router decision settings (plain values,
    for the held-out check), and the content hashes of its inputs (`data`) and
    of the stage's code (`code`), which key its cache.
    """
    with tracked_stage(stage) as (params, tracking):
        train_file, heldout_file = step_files(params)
        tracking.set_tag("prompt_version", PROMPT_VERSION)
        decision = router_config().loop.decision
        extra = {argument: params[key] for argument, key in (models or {}).items()}
        inputs = {
            "train_file": train_file,
            "heldout_file": heldout_file,
            "base_model": params["base_model"],
            "out_dir": params["out_dir"],
            "checkpoint_root": params["checkpoint_dir"],
            "image_root": params["image_root"],
            **extra,
        }
        result = run_cached(
            task,
            [params["out_dir"]],
            inputs=inputs,
            settings=trainer_settings(params),
            decision=asdict(decision),
            data=input_version(train_file, heldout_file, params["base_model"], *extra.values()),
            code=code_version(stage),
        )
        return publish_training(stage, result, tracking, params, curve, decision)

"""What the `sft` and `grpo` flows share: their settings, and publishing a trained router.

Publishing = the stage's metrics file, its curve (JSON rows for `dvc plots`,
one PNG), the trainer's log history in the stage's MLflow run, the router's
`r1router-train.json` as an artifact, and the router itself in the MLflow
model registry with the run's lineage tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.stage import numeric_metrics
from r1router.io import write_json
from r1router.training.common import TRAIN_MARKER, log_history_metrics
from r1router.training.curves import curve_png, curve_rows
from r1router.training.registry import register_router

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


def publish_training(
    stage: str, result: Mapping[str, Any], tracking: Any, params: Mapping[str, Any], curve: Curve
) -> dict[str, Any]:
    """Write metrics/<stage>.json, metrics/<stage>_curve.json, reports/training/<stage>_curve.png; log; register."""
    run_id = tracking.active_run().info.run_id
    history = result["log_history"]
    if result.get("mlflow_run_id") != run_id:  # a cached result, or training that ran outside this run
        log_history_metrics(run_id, history)
    metrics = {key: value for key, value in result.items() if key not in {"log_history", "mlflow_run_id"}}
    metrics_file, curve_file = Path(f"metrics/{stage}.json"), Path(f"metrics/{stage}_curve.json")
    rows = curve_rows(history, curve.keys)
    write_json(metrics_file, metrics)
    write_json(curve_file, rows)
    png = curve_png(rows, curve.panels, Path(f"reports/training/{stage}_curve.png"), curve.title)
    tracking.log_metrics(numeric_metrics(metrics, prefix="final."))
    tracking.set_tags({"train.fingerprint": result["fingerprint"], "train.base_model": params["base_model"]})
    for path in (metrics_file, curve_file, png, Path(params["out_dir"]) / TRAIN_MARKER):
        tracking.log_artifact(str(path))
    registry = params["registry"]
    model_config = {"predict_max_new_tokens": registry["max_new_tokens"], "predict_device": "cpu"}
    return {**metrics, "registered": register_router(params["out_dir"], registry["name"], run_id, model_config)}

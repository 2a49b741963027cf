"""Flow `models`: pull and convert every model the profile names into `models/`."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.stage import tracked_stage
from tasks.caching import code_version, run_cached
from tasks.models import pull_model_task


@flow(name="models")
def models_flow() -> dict:
    with tracked_stage("models") as (params, mlflow):
        models_dir = params["models_dir"]
        code = code_version("models")
        manifests = {
            name: run_cached(
                pull_model_task, [Path(models_dir) / name], name=name, spec=spec, models_dir=models_dir, code=code
            )
            for name, spec in sorted(params["specs"].items())
        }
        mlflow.set_tags({f"model.{name}.sha256": str(m.get("sha256")) for name, m in manifests.items()})
        mlflow.log_dict(manifests, "models.json")
    return manifests


if __name__ == "__main__":
    models_flow()

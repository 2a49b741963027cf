"""Flow `kb`: train the image encoder, build + embed + index each KB, measure recall@k."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.stage import publish_metrics, tracked_stage
from r1router.kb.encoders import encoder_fingerprint
from r1router.kb.kinds import KINDS
from tasks.caching import code_version, input_version, run_cached
from tasks.kb import build_kb_task, retrieval_recall_task, train_image_encoder_task


@flow(name="kb")
def kb_flow() -> dict:
    with tracked_stage("kb") as (params, mlflow):
        world_dir = Path(params["world_dir"])
        out_root = Path(params["out_dir"])
        kinds = [kind for kind in KINDS if kind in params]
        code = code_version("kb")
        image_encoder = params.get("image", {}).get("encoder", {})
        if "train" in params.get("image", {}) and "path" in image_encoder:
            image_kb = Path(params["image"]["input"])
            train_metrics = run_cached(
                train_image_encoder_task,
                [image_encoder["path"]],
                image_kb=str(image_kb),
                out_dir=image_encoder["path"],
                train=params["image"]["train"],
                data=input_version(image_kb, image_kb.parent / "images"),
                code=code,
            )
            for epoch, loss in enumerate(train_metrics.get("loss", []), start=1):
                mlflow.log_metric("image_encoder.loss", loss, step=epoch)
        settings = {key: params[key] for key in ("device", "shard_size", "batch_size", "max_passage_words")}
        builds = {}
        for kind in kinds:
            input_path = Path(params[kind]["input"])
            encoder = params[kind]["encoder"]
            builds[kind] = run_cached(
                build_kb_task.with_options(task_run_name=f"build-kb[{kind}]"),
                [out_root / kind],
                kind=kind,
                input_path=str(input_path),
                out_dir=str(out_root / kind),
                shard_dir=str(Path(params["shard_dir"]) / kind),
                encoder=encoder,
                index=params[kind]["index"],
                settings=settings,
                data=input_version(input_path) + encoder_fingerprint(encoder),
                code=code,
                distributed=params.get("distributed"),
            )
        recall = retrieval_recall_task(
            kb_root=str(out_root),
            kinds=kinds,
            world_dir=str(world_dir),
            split=params["eval"]["split"],
            k=params["eval"]["k"],
            data=input_version(world_dir / "questions", *(out_root / kind for kind in kinds)),
            code=code,
        )
        metrics = {**recall, "build_seconds": {kind: b["stats"]["seconds"] for kind, b in builds.items()}}
        publish_metrics("kb", metrics, mlflow)
    return metrics


if __name__ == "__main__":
    kb_flow()

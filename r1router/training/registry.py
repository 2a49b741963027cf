"""Trained routers in the MLflow model registry, as pyfunc models that make one routing decision.

A registered version holds the whole router directory (weights, tokenizer,
`r1router-train.json`), so it can be served or compared without the DVC
workspace that trained it. Its `predict` takes questions (and optionally the
sub-questions answered so far) and returns the router's next decision, the
unit the Step-GRPO reward scores, generated with the profile's loop decision
settings (`router.loop.decision`: token budget, the `</ret>` stop), so a served
decision is the one the evaluation scored. The version carries the training
run's tags (git commit, params hash, Prefect flow run, data and model hashes),
so a registered model traces back to the code and data that made it, and a
description a reviewer reads in the registry: the training run, the DVC hashes
of the data it read and its headline numbers. The logged model is named like
the registered one (`r1router-sft`, not `router` for every stage).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

from r1router.codedeps import is_code_dep
from r1router.errors import ConfigError
from r1router.lineage import DEP_PREFIX
from r1router.router.generation_config import GenerationConfig

ARTIFACT = "router"
SYSTEM_TAG_PREFIX = "mlflow."  # MLflow's own run tags (source, user, run name) say nothing about lineage
# Logged as code (MLflow's models-from-code: this file is copied into the model and run at load), not pickled.
MODEL_CODE = Path(__file__).with_name("router_model.py")
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "question"), ColSpec("string", "history", required=False)]),
    outputs=Schema(
        [
            ColSpec("string", "raw"),
            ColSpec("boolean", "well_formed"),
            ColSpec("string", "sub_question", required=False),
            ColSpec("string", "kb", required=False),
            ColSpec("string", "retriever", required=False),
        ]
    ),
)


class RouterModel(PythonModel):
    """`predict(DataFrame[question, history?]) -> DataFrame[raw, well_formed, sub_question, kb, retriever]`.

    `history` (optional) is a JSON list of `[sub_question, answer]` pairs already
    answered for that question. `model_config` is `predict_config`'s.
    """

    def load_context(self, context: Any) -> None:
        from r1router.router.backends import PolicySpec, load_policy

        config = dict(context.model_config or {})
        if "predict_decision" not in config:
            raise ConfigError("model_config has no predict_decision: register the router with register_router")
        self.generation = GenerationConfig(**config["predict_decision"])
        self.policy = load_policy(PolicySpec(model=context.artifacts[ARTIFACT], device=config["predict_device"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from r1router.kb.kinds import get_kind
        from r1router.router.parsing import FormatError, parse_decision
        from r1router.router.prompts import decompose_messages

        frame = pd.DataFrame(model_input)
        histories = frame["history"] if "history" in frame else [None] * len(frame)
        conversations = [
            decompose_messages(str(question), [tuple(pair) for pair in json.loads(history or "[]")])
            for question, history in zip(frame["question"], histories, strict=True)
        ]
        rows = []
        for text in self.policy.generate(conversations, self.generation):
            try:
                decision = parse_decision(text)
            except FormatError:
                rows.append({"raw": text, "well_formed": False, "sub_question": None, "kb": None, "retriever": None})
                continue
            retriever = get_kind(decision.kb).retriever if decision.kb is not None else "None"
            rows.append(
                {
                    "raw": text,
                    "well_formed": True,
                    "sub_question": decision.sub_question,
                    "kb": decision.kb,
                    "retriever": retriever,
                }
            )
        return pd.DataFrame(rows, columns=["raw", "well_formed", "sub_question", "kb", "retriever"])


def _requirements() -> list[str]:
    """Pinned versions of what `RouterModel` imports besides r1router itself (given, so MLflow infers nothing)."""
    return [f"{name}=={version(name)}" for name in ("torch", "transformers", "mlflow", "pandas")]


def predict_config(decision: GenerationConfig, device: str = "cpu") -> dict[str, Any]:
    """The registered model's `model_config`: the loop's decision settings (stop strings included) and its device.

    Keys are prefixed `predict_`: MLflow also logs them as run params, beside the
    stage's own `device`.
    """
    return {
        "predict_decision": {**asdict(decision), "stop_strings": list(decision.stop_strings)},
        "predict_device": device,
    }


def describe_version(run_id: str, tags: Mapping[str, str], headline: Mapping[str, float]) -> str:
    """A model version's description (Markdown): the run that trained it, the data it read, its headline numbers."""
    stage = tags.get("stage", "?")
    lines = [f"Trained by MLflow run `{run_id}` (stage `{stage}`, git `{tags.get('git_commit', 'unknown')}`)."]
    data = sorted((key.removeprefix(DEP_PREFIX), value) for key, value in tags.items() if key.startswith(DEP_PREFIX))
    lines += ["", "Data (DVC hashes, as in dvc.lock):"]
    lines += [f"- `{path}`: `{digest}`" for path, digest in data if not is_code_dep(path)] or ["- (not tracked)"]
    lines += ["", "Headline numbers:"]
    lines += [f"- {name}: {value:g}" for name, value in sorted(headline.items())] or ["- (none)"]
    return "\n".join(lines) + "\n"


def register_router(
    router_dir: str | Path,
    name: str,
    run_id: str,
    decision: GenerationConfig,
    device: str = "cpu",
    headline: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Log `router_dir` as a pyfunc model `name` in run `run_id`, register it as `name`, copy the run's tags
    to the version and describe it (`describe_version`, with the `headline` numbers).

    `decision`: the profile's `router_config().loop.decision`, what `predict` generates with.
    """
    client = mlflow.MlflowClient()
    run_tags = {k: v for k, v in client.get_run(run_id).data.tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)}
    active = mlflow.active_run()
    if active is None or active.info.run_id != run_id:
        raise RuntimeError(f"register_router must be called inside run {run_id}")
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=str(MODEL_CODE),
        artifacts={ARTIFACT: str(router_dir)},
        model_config=predict_config(decision, device),
        signature=SIGNATURE,
        pip_requirements=_requirements(),
        registered_model_name=name,
    )
    model_version = str(info.registered_model_version)
    for key, value in {**run_tags, "run_id": run_id}.items():
        client.set_model_version_tag(name, model_version, key, value)
    client.update_model_version(name, model_version, describe_version(run_id, run_tags, headline or {}))
    stage = run_tags.get("stage", "?")
    client.update_registered_model(name, f"The router the `{stage}` stage trains; each version names its run.")
    return {"name": name, "version": model_version, "model_uri": f"models:/{name}/{model_version}"}

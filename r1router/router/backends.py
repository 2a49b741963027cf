"""One policy factory: which backend serves a policy is configuration, not a guess made by each caller.

Evaluation (`evaluate.methods`), `r1router ask --model`, teachers, the
held-out check and the registered model all name a policy by a spec::

    step-grpo: routers/step-grpo              # a directory: {backend: auto, model: routers/step-grpo}
    prompt-router: {backend: hf-causal, model: models/policy}
    rag-text:
      backend: openai
      endpoint: {base_url: "http://127.0.0.1:8000/v1", model: Qwen/Qwen2.5-VL-7B-Instruct}

Backends:

- `hf-causal`: a transformers causal chat LM in this process (`policy.CausalLMPolicy`);
- `hf-vl`: a transformers image-text-to-text model in this process (`policy_vl.VisionLanguagePolicy`);
- `openai`: a model behind an OpenAI-compatible server, vLLM or SGLang (`policy_openai.OpenAIPolicy`);
- `vllm`: a vLLM engine in this process (`policy_vllm.VLLMPolicy`; a CUDA machine with `vllm` installed);
- `auto`: one of the two HF backends, picked by the checkpoint's config (a
  vision tower means `hf-vl`). The only backend that looks inside the model;
  it keeps a plain directory working.

A new backend is one more name in `BACKENDS` and one more branch in
`load_policy`; no caller changes.

This module imports no ML framework: flows parse and validate specs before
any model is loaded, and the HF backends are imported only when one is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1router.errors import ConfigError
from r1router.models.pull import verify_model_dir
from r1router.router.generation_config import Policy
from r1router.router.policy_openai import EndpointConfig, OpenAIPolicy, endpoint_config

if TYPE_CHECKING:
    from r1router.router.hf_generate import HFPolicy

HF_BACKENDS = ("auto", "hf-causal", "hf-vl")
BACKENDS = (*HF_BACKENDS, "vllm", "openai")
SPEC_KEYS = ("backend", "model", "device", "precision", "endpoint")


@dataclass(frozen=True)
class PolicySpec:
    """What serves a policy. `model`: the model directory (HF backends); `endpoint`: the server (`openai`).

    `device` and `precision` (`r1router.device`) apply to the HF backends; a
    server decides its own.
    """

    backend: str = "auto"
    model: str | None = None
    device: str = "auto"
    precision: str = "auto"
    endpoint: EndpointConfig | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend '{self.backend}' (use {' | '.join(BACKENDS)})")
        if self.backend == "openai":
            if self.endpoint is None or self.model is not None:
                raise ConfigError("backend openai needs `endpoint` and no `model` (the served name is endpoint.model)")
        elif not self.model or self.endpoint is not None:
            raise ConfigError(f"backend {self.backend} needs `model` (a model directory) and no `endpoint`")

    @property
    def local_model(self) -> str | None:
        """The model directory whose content decides the outputs, or None when a server holds the model."""
        return self.model if self.backend != "openai" else None

    def describe(self) -> str:
        """What serves the policy, in one line (an MLflow tag): the directory itself for `auto`."""
        if self.endpoint is not None:
            return f"openai:{self.endpoint.model}@{self.endpoint.base_url}"
        return str(self.model) if self.backend == "auto" else f"{self.backend}:{self.model}"


def policy_spec(value: Any, where: str, device: str = "auto", precision: str = "auto") -> PolicySpec:
    """A PolicySpec from params: a model directory (backend `auto`), or a mapping of `SPEC_KEYS`.

    `device` and `precision` are the defaults (the profile's router settings,
    `r1router.router.profile`); a mapping may set its own. `where` names the
    params key in errors.
    """
    if isinstance(value, str | Path):
        value = {"model": str(value)}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a model directory or a mapping of {list(SPEC_KEYS)}, got {value!r}")
    unknown = sorted(set(value) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown} (known: {list(SPEC_KEYS)})")
    endpoint = value.get("endpoint")
    if endpoint is not None:
        if not isinstance(endpoint, Mapping):
            raise ConfigError(f"{where}.endpoint: expected a mapping of EndpointConfig fields, got {endpoint!r}")
        endpoint = endpoint_config(endpoint, f"{where}.endpoint")
    try:
        return PolicySpec(
            backend=value.get("backend", "auto"),
            model=None if value.get("model") is None else str(value["model"]),
            device=value.get("device", device),
            precision=value.get("precision", precision),
            endpoint=endpoint,
        )
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from error


def load_policy(spec: PolicySpec) -> Policy:
    """The policy `spec` names, on the backend it names."""
    if spec.endpoint is not None:  # backend openai (PolicySpec allows an endpoint nowhere else)
        return OpenAIPolicy(spec.endpoint)
    if spec.backend == "vllm":
        from r1router.router.policy_vllm import VLLMPolicy

        verify_model_dir(Path(str(spec.model)))
        return VLLMPolicy.load(str(spec.model), spec.precision, multimodal=is_vision_language(str(spec.model)))
    return load_hf_policy(spec)


def load_hf_policy(spec: PolicySpec) -> HFPolicy:
    """An in-process transformers policy (what training and its held-out check need); a served model is refused."""
    if spec.backend not in HF_BACKENDS or spec.model is None:
        raise ConfigError(
            f"backend {spec.backend} gives no in-process transformers model; this needs one of {list(HF_BACKENDS)}"
        )
    backend = spec.backend
    if backend == "auto":
        verify_model_dir(Path(spec.model))  # before AutoConfig, whose error on a missing directory is obscure
        backend = "hf-vl" if is_vision_language(spec.model) else "hf-causal"
    if backend == "hf-vl":
        from r1router.router.policy_vl import VisionLanguagePolicy

        return VisionLanguagePolicy.load(spec.model, spec.device, spec.precision)
    from r1router.router.policy import CausalLMPolicy

    return CausalLMPolicy.load(spec.model, spec.device, spec.precision)


def is_vision_language(model_dir: str | Path) -> bool:
    """A config with a vision tower (Qwen2.5-VL and kin) needs the image-text-to-text backend."""
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(model_dir), "vision_config", None) is not None

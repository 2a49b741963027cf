"""The router's run-time settings, once per params profile: `profiles.<profile>.router`.

    router:
      device: auto        # where HF policies (and the retrievers' encoders) run
      precision: bfloat16 # their weights' dtype (r1router/device.py)
      loop: {max_steps, k, all_kbs_k, decision, answer, recovery}
      retrieval_service: null  # or the URL of a running `r1router kb serve` (r1router/kb/service.py)

Everything that runs a router in a profile reads them here: evaluation
(trained routers and baselines alike), `r1router ask`, the held-out routing
check of sft/grpo and the registered MLflow model (the loop's decision
settings). A router is then asked the same way wherever it runs: the same
token budgets, stop strings, retries and precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1router.config import stage_params
from r1router.errors import ConfigError
from r1router.router.backends import PolicySpec, policy_spec
from r1router.router.loop import LoopConfig, loop_config

ROUTER_KEYS = ("device", "precision", "loop", "retrieval_service")


@dataclass(frozen=True)
class RouterConfig:
    """One profile's router: how its loop runs, and where (and at what precision) its HF policies run."""

    loop: LoopConfig
    device: str = "auto"
    precision: str = "auto"
    retrieval_service: str | None = None  # search through this service instead of loading the KBs

    def policy_spec(self, value: Any, where: str) -> PolicySpec:
        """A policy spec from params (`r1router.router.backends`), on this profile's device and precision unless
        it sets its own."""
        return policy_spec(value, where, device=self.device, precision=self.precision)


def parse_router_config(section: Mapping[str, Any], where: str = "router") -> RouterConfig:
    """RouterConfig from a params.yaml `router` section; unknown keys are an error naming `where`."""
    unknown = sorted(set(section) - set(ROUTER_KEYS))
    if unknown:
        raise ConfigError(f"params.yaml {where}: unknown keys {unknown} (known: {list(ROUTER_KEYS)})")
    return RouterConfig(
        loop=loop_config(section.get("loop") or {}, f"{where}.loop"),
        device=section.get("device", "auto"),
        precision=section.get("precision", "auto"),
        retrieval_service=section.get("retrieval_service"),
    )


def router_params(params_path: str | Path | None = None) -> dict[str, Any]:
    """The active profile's `router` section as written: plain values, for a task's cache key."""
    return stage_params("router", params_path)


def router_config(params_path: str | Path | None = None) -> RouterConfig:
    """The active profile's router settings (params.yaml, or `params_path`)."""
    return parse_router_config(router_params(params_path))

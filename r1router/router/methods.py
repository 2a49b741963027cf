"""Every evaluated method by name, built from one policy and one set of KBs.

Names are those of the evaluation table: `direct`, `rag-<kb>`, `rag-all`,
`iterative`, `prompt-router` (base model, few-shot), and trained routers
(`sft`, `step-grpo`, zero-shot with their own policy).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Protocol

from r1router.benchmarks.schema import Question
from r1router.errors import ConfigError
from r1router.kb.kinds import KINDS
from r1router.router.baselines import Baseline
from r1router.router.generation_config import Policy
from r1router.router.loop import LoopConfig, RouterLoop, Search
from r1router.router.trajectory import Trajectory

TRAINED_ROUTERS = ("sft", "step-grpo")


class Method(Protocol):
    def run(self, questions: list[Question], image_root: Path | None = None) -> list[Trajectory]: ...


def routes(name: str) -> bool:
    """Whether a method makes routing decisions (and so has a routing accuracy)."""
    return name == "prompt-router" or name in TRAINED_ROUTERS


def make_method(name: str, policy: Policy, search: Search, config: LoopConfig, kbs: tuple[str, ...]) -> Method:
    """`kbs` are the KBs that are built; `rag-all` and `iterative` use all of them."""
    if name == "direct":
        return Baseline(name, policy, search, config)
    if name == "rag-all":
        return Baseline(name, policy, search, config, kbs=kbs)
    if name.startswith("rag-"):
        kb = name.removeprefix("rag-")
        if kb not in KINDS or kb not in kbs:
            raise ConfigError(f"method '{name}': no KB '{kb}' (built: {sorted(kbs)})")
        return Baseline(name, policy, search, config, kbs=(kb,))
    if name == "iterative":
        return Baseline(name, policy, search, config, kbs=kbs, rounds=config.max_steps)
    if name == "prompt-router":
        return RouterLoop(policy, search, replace(config, few_shot=True), method=name)
    if name in TRAINED_ROUTERS:
        return RouterLoop(policy, search, replace(config, few_shot=False), method=name)
    raise ConfigError(f"unknown method '{name}'")

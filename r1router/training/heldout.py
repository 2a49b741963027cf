"""Routing quality on held-out step rows: what training is for, measured the same way before and after it.

Decisions on the held-out `ret` rows, generated as the router generates them
(the profile's `router.loop.decision` settings: token budget, batch size, the
`</ret>` stop) with the row's image when the policy sees images, scored by the
strict parser (format rate), against each row's gold KB with stop decisions
included (routing accuracy), and, when an encoder is given, by the Step-GRPO
`ret` reward itself. The filter stage splits held-out rows off by question, so
a rise here is not the trainer having seen the same question.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from r1router.router.generation_config import GenerationConfig, Policy
from r1router.router.hf_generate import HFPolicy
from r1router.router.parsing import FormatError, parse_decision
from r1router.training.common import load_rows
from r1router.training.rewards import Encode, RetGold, route_rewards
from r1router.training.steps import StepRow


def routing_eval(
    policy: Policy,
    rows: list[StepRow],
    generation: GenerationConfig,
    encode: Encode | None = None,
    image_root: str | Path | None = None,
) -> dict[str, Any]:
    """`{rows, format_rate, routing_accuracy, retrieval_rate[, reward]}` of the decisions on the `ret` rows.

    The rows' images (under `image_root`) reach a vision-language policy, as at
    inference; a text-only one drops them.
    """
    ret_rows = [row for row in rows if row.step_type == "ret"]
    if not ret_rows:
        return {"rows": 0}
    texts = policy.generate([row.messages(image_root) for row in ret_rows], generation)
    well_formed = routed_right = retrieved = 0
    for text, row in zip(texts, ret_rows, strict=True):
        try:
            decision = parse_decision(text)
        except FormatError:
            continue
        well_formed += 1
        routed_right += decision.kb == row.gold_kb
        retrieved += decision.kb is not None
    n = len(ret_rows)
    metrics: dict[str, Any] = {
        "rows": n,
        "format_rate": well_formed / n,
        "routing_accuracy": routed_right / n,
        "retrieval_rate": retrieved / n,  # share of decisions that retrieve rather than stop
    }
    if encode is not None:
        scores = route_rewards(texts, [RetGold.from_answer(row.answer) for row in ret_rows], encode)
        metrics["reward"] = sum(score.reward for score in scores) / n
    return metrics


def load_heldout(path: str | Path | None, settings: Mapping[str, Any] | None) -> list[StepRow]:
    """The held-out `ret` rows to check (`settings["max_rows"]` of them), or none when there is nothing to check.

    Only the row count is a held-out setting: how the decisions are generated
    is the profile's router loop (`check_routing`), as everywhere else.
    """
    if path is None or not settings:
        return []
    return load_rows(path, ["ret"])[: settings["max_rows"]]


def check_routing(
    policy: HFPolicy,
    rows: list[StepRow],
    decision: GenerationConfig,
    encode: Encode | None = None,
    image_root: str | Path | None = None,
) -> dict[str, Any]:
    """`routing_eval` of an HF policy whose model may be mid-training (eval mode for the check, then back).

    `decision` is the profile's loop decision config (`router_config().loop.decision`):
    the check generates what the router would, stop strings included.
    """
    if not rows:
        return {}
    was_training = policy.model.training
    policy.model.eval()
    try:
        return routing_eval(policy, rows, decision, encode, image_root)
    finally:
        policy.model.train(was_training)

"""Routing quality on held-out step rows: what training is for, measured the same way before and after it.

Greedy decoding on the held-out `ret` rows, scored by the strict parser
(format rate), against each row's gold KB with stop decisions included
(routing accuracy), and, when an encoder is given, by the Step-GRPO `ret`
reward itself. The filter stage splits held-out rows off by question, so a rise here is
not the trainer having seen the same question.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1router.router.parsing import FormatError, parse_decision
from r1router.router.policy import CausalLMPolicy, GenerationConfig, Policy
from r1router.training.common import load_rows
from r1router.training.rewards import Encode, RetGold, route_rewards
from r1router.training.steps import StepRow


def routing_eval(
    policy: Policy, rows: list[StepRow], generation: GenerationConfig, encode: Encode | None = None
) -> dict[str, Any]:
    """`{rows, format_rate, routing_accuracy, retrieval_rate[, reward]}` of greedy decisions on the `ret` rows."""
    ret_rows = [row for row in rows if row.step_type == "ret"]
    if not ret_rows:
        return {"rows": 0}
    texts = policy.generate([row.messages() for row in ret_rows], generation)
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


def load_heldout(path: str | Path | None, settings: dict[str, Any] | None, multimodal: bool) -> list[StepRow]:
    """The held-out `ret` rows to check (`settings["max_rows"]` of them), or none when there is nothing to check.

    A vision-language policy is not checked here: its decisions need the image,
    which the text-only generation path below does not pass.
    """
    if path is None or not settings or multimodal:
        return []
    return load_rows(path, ["ret"])[: settings["max_rows"]]


def check_routing(
    model: Any, tokenizer: Any, rows: list[StepRow], settings: dict[str, Any], encode: Encode | None = None
) -> dict[str, Any]:
    """`routing_eval` of a causal LM that may be mid-training (eval mode for the check, then back)."""
    if not rows:
        return {}
    was_training = model.training
    model.eval()
    try:
        generation = GenerationConfig(max_new_tokens=settings["max_new_tokens"], batch_size=settings["batch_size"])
        return routing_eval(CausalLMPolicy(model, tokenizer), rows, generation, encode)
    finally:
        model.train(was_training)

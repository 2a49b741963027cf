"""Generate-and-parse with the paper's recovery policy, batched across questions.

Each conversation is generated once with the main settings; the outputs that
fail to parse are regenerated (with sampling, since greedy decoding would
repeat the same mistake) up to `retries` times; then, optionally, the model is
shown its own output and told to follow the format; whatever still fails gets
the caller's fallback. Every failed attempt counts as a format error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar, cast

from r1router.router.generation_config import GenerationConfig, Policy
from r1router.router.parsing import FormatError

T = TypeVar("T")

CORRECTIVE_TURN = (
    "Your answer does not follow the Strict Output Format ({reason}). "
    "Answer again, following the Strict Output Format exactly."
)


@dataclass(frozen=True)
class RecoveryConfig:
    retries: int = 2
    corrective_turn: bool = True
    retry_temperature: float = 0.7


@dataclass
class Parsed(Generic[T]):
    value: T
    raw: str
    format_errors: int
    outputs: int  # model outputs generated for it, failed ones included

    @property
    def counts(self) -> tuple[int, int]:
        return self.format_errors, self.outputs


def generate_parsed(
    policy: Policy,
    conversations: list[list[dict]],
    parse: Callable[[str], T],
    fallback: Callable[[str], T],
    generation: GenerationConfig,
    recovery: RecoveryConfig,
) -> list[Parsed[T]]:
    """Return one parsed value per conversation, in order."""
    if not conversations:
        return []
    results: list[Parsed[T] | None] = [None] * len(conversations)
    raws = [""] * len(conversations)
    reasons = [""] * len(conversations)
    errors = [0] * len(conversations)
    pending = list(range(len(conversations)))

    def attempt(indices: list[int], convs: list[list[dict]], config: GenerationConfig) -> list[int]:
        failed = []
        for index, text in zip(indices, policy.generate(convs, config), strict=True):
            raws[index] = text
            try:
                results[index] = Parsed(parse(text), text, errors[index], errors[index] + 1)
            except FormatError as exc:
                errors[index] += 1
                reasons[index] = str(exc)
                failed.append(index)
        return failed

    pending = attempt(pending, conversations, generation)
    retry_config = replace(generation, do_sample=True, temperature=recovery.retry_temperature)
    for retry in range(recovery.retries):
        if not pending:
            break
        config = replace(retry_config, seed=generation.seed + retry + 1)
        pending = attempt(pending, [conversations[i] for i in pending], config)
    if pending and recovery.corrective_turn:
        corrected = [
            [
                *conversations[i],
                {"role": "assistant", "content": [{"type": "text", "text": raws[i]}]},
                {"role": "user", "content": [{"type": "text", "text": CORRECTIVE_TURN.format(reason=reasons[i])}]},
            ]
            for i in pending
        ]
        pending = attempt(pending, corrected, generation)
    for index in pending:
        results[index] = Parsed(fallback(raws[index]), raws[index], errors[index], errors[index])
    return cast(list[Parsed[T]], results)  # every index was parsed or given the fallback

"""Step-GRPO rewards: one score per generated step, from its text and the step's gold label alone.

Every reward is a pure function of a completion and its gold, so it is tested
without a trainer. `step_rewards` turns them into the plain trl reward
functions `ret` and `ans` (`f(completions, step_type=[...], gold=[...]) ->
list[float | None]`): each scores the rows of its own step type and returns
None for the others, which trl reads as "not mine" (see `step_rewards`).

Rules (R1-Router's Step-GRPO, OpenBMB/R1-Router `verl/utils/reward_score/step.py`):

* `ret` (a routing decision): `0.5 * cos(generated sub-question, gold sub-question)
  + 0.5 * [exactly one retriever and it is the gold one]`, with the sentence
  encoder of the text KB. A completion that `parse_decision` rejects scores 0.
* `ans` (a sub-answer or the final answer): the F1-Recall of the answer against the
  gold(s), by the paper's rule: a single gold of at most 5 words (split on spaces)
  scores 1 only at recall 1, a longer single gold scores its recall, several golds
  score 1 only at recall 1. A completion that `parse_answer` rejects scores 0.
* optional cost (ours, in the spirit of Router-R1's cost reward; weight 0 = off):
  `cost_weight` is subtracted from a well-formed decision that retrieves where the
  gold says stop.

Stop cases (gold `{"query": "none", "retriever": ["none"]}`), defined here because
the similarity of a question to "no question" has no meaning:
* gold stop, generated stop: similarity 1, route 1 -> reward 1.0;
* gold stop, generated a sub-question (or gold a sub-question, generated stop):
  similarity 0, route 0 -> reward 0.0 (minus the cost term in the first case).

Deviations from the official code, each on purpose:
1. Format is checked by our strict parsers (`r1router.router.parsing`): each tag
   once, in order, nothing outside them, sub-question and retriever agreeing on
   stopping. The official regexes take the first match anywhere and let text
   outside the tags through. A format the router cannot act on is not rewarded.
2. Several retrievers (`Text Retriever, Table Retriever`) are a format error (0);
   the official code still pays the similarity half for them.
3. Stop cases as above; the official code embeds the literal word "none" and pays
   its cosine to the gold question, a positive amount for stopping at any step
   that has nothing to do with the question.
4. Both sub-questions are lowercased before encoding, as the official code does
   (its gold queries are lowercase in the released data), but the encoder is the
   text KB's (all-MiniLM-L6-v2 in the demo, bge-m3 in the paper profile).
5. The cost term does not exist in the official code.
6. The answer recall is `r1router.evaluation.f1_recall`, the official scorer's
   normalisation and tokenisation, so a reward of 1 means F1-Recall 1 at evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from r1router.evaluation.f1_recall import f1_recall
from r1router.kb.kinds import kind_for_retriever
from r1router.router.parsing import STOP, FormatError, parse_answer, parse_decision

RET, ANS = "ret", "ans"
STEP_TYPES = (RET, ANS)
SHORT_GOLD_WORDS = 5  # the paper's rule: a single gold this short must be recalled in full

# Unit-length embeddings, one row per text (TextEncoder.encode has this shape).
Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class RetGold:
    """A routing step's gold: the sub-question and KB kind, both None for stop."""

    query: str | None
    kb: str | None

    @classmethod
    def from_answer(cls, answer: Any) -> RetGold:
        """Read the released `{"query": str, "retriever": [name]}` (stop: `"none"`, `["none"]`)."""
        if not isinstance(answer, dict) or not isinstance(answer.get("query"), str):
            raise ValueError(f"ret gold must be {{'query': str, 'retriever': [str]}}, got {answer!r}")
        retrievers = answer.get("retriever")
        if not isinstance(retrievers, list) or len(retrievers) != 1 or not isinstance(retrievers[0], str):
            raise ValueError(f"ret gold must name exactly one retriever, got {retrievers!r}")
        name = retrievers[0].strip().lower()
        if name == STOP:
            return cls(None, None)
        kind = kind_for_retriever(name)
        if kind is None:
            raise ValueError(f"unknown gold retriever {retrievers[0]!r}")
        return cls(answer["query"], kind.name)


def answer_golds(answer: Any) -> list[str]:
    """An `ans` gold as a list: a sub-answer string, or the final step's list of gold answers."""
    golds = [answer] if isinstance(answer, str) else answer
    if not isinstance(golds, list) or not golds or not all(isinstance(g, str) for g in golds):
        raise ValueError(f"ans gold must be a string or a non-empty list of strings, got {answer!r}")
    return golds


def completion_text(completion: str | list[dict[str, Any]]) -> str:
    """trl passes a conversational completion as `[{"role": "assistant", "content": ...}]`."""
    if isinstance(completion, str):
        return completion
    return "".join(message["content"] for message in completion if isinstance(message.get("content"), str))


def answer_reward(text: str, golds: Sequence[str]) -> tuple[float, bool]:
    """`(reward, well_formed)` of an answer step by the paper's recall rule."""
    try:
        answer = parse_answer(text, require_think=True).answer
    except FormatError:
        return 0.0, False
    recall = f1_recall(answer, golds)
    if len(golds) == 1 and len(golds[0].split(" ")) > SHORT_GOLD_WORDS:
        return recall, True
    return (1.0 if recall == 1.0 else 0.0), True


@dataclass(frozen=True)
class RouteScore:
    reward: float
    well_formed: bool
    routed_right: bool  # the generated KB (or stop) is the gold one; False when malformed


def route_rewards(
    texts: Sequence[str], golds: Sequence[RetGold], encode: Encode, cost_weight: float = 0.0
) -> list[RouteScore]:
    """Score a batch of routing decisions; the sub-questions that need a similarity are encoded in one call."""
    decisions = []
    for text in texts:
        try:
            decisions.append(parse_decision(text))
        except FormatError:
            decisions.append(None)
    pairs = [
        i
        for i, (d, g) in enumerate(zip(decisions, golds, strict=True))
        if d is not None and d.sub_question is not None and g.query is not None
    ]
    similarity = dict.fromkeys(range(len(texts)), 0.0)
    if pairs:
        generated = [decisions[i].sub_question.lower() for i in pairs]  # type: ignore[union-attr]
        gold = [golds[i].query.lower() for i in pairs]  # type: ignore[union-attr]
        vectors = encode(generated + gold)
        for row, i in enumerate(pairs):
            similarity[i] = float(np.dot(vectors[row], vectors[len(pairs) + row]))
    scores = []
    for i, (decision, gold) in enumerate(zip(decisions, golds, strict=True)):
        if decision is None:
            scores.append(RouteScore(0.0, False, False))
            continue
        routed_right = decision.kb == gold.kb
        if decision.kb is None and gold.kb is None:
            similarity[i] = 1.0  # both stop: nothing to compare, the decision is exactly the gold one
        reward = 0.5 * similarity[i] + 0.5 * float(routed_right)
        if gold.kb is None and decision.kb is not None:
            reward -= cost_weight
        scores.append(RouteScore(reward, True, routed_right))
    return scores


# The trl reward function form: one reward per completion, None where the function does not score the row.
RewardFunc = Callable[..., list[float | None]]
LogMetric = Callable[[str, float], None]


def rows_of(kind: str, step_type: Sequence[str]) -> list[int]:
    """Indices of the rows of `kind`; an unknown step type is an error, since no reward function would score it."""
    unknown = set(step_type) - set(STEP_TYPES)
    if unknown:
        raise ValueError(f"unknown step_type {sorted(unknown)} (expected one of {STEP_TYPES})")
    return [i for i, name in enumerate(step_type) if name == kind]


def placed(index: Sequence[int], values: Sequence[float], size: int) -> list[float | None]:
    """`values` at the positions `index` of a list of `size`, None elsewhere (trl's "this function does not score")."""
    out: list[float | None] = [None] * size
    for i, value in zip(index, values, strict=True):
        out[i] = value
    return out


def rate(flags: Sequence[bool]) -> float:
    return sum(map(float, flags)) / len(flags)


def rewards_by_gold_kb(golds: Sequence[RetGold], scores: Sequence[RouteScore]) -> dict[str, list[float]]:
    """The routing rewards grouped by the gold KB (`stop` for a gold stop): the curve of each KB's learning.

    One mean over all routing rows hides a KB the router never learns (the
    demo's table KB); trl averages each logged name over the steps it appears in.
    """
    grouped: dict[str, list[float]] = {}
    for gold, score in zip(golds, scores, strict=True):
        grouped.setdefault(gold.kb or "stop", []).append(score.reward)
    return grouped


def step_rewards(encode: Encode, cost_weight: float = 0.0) -> list[RewardFunc]:
    """The Step-GRPO reward as trl reward functions `[ret, ans]`, for `GRPOTrainer(reward_funcs=...)`.

    Dataset columns they read: `step_type` (`ret`/`ans`) and `gold` (the step row's
    `answer`, JSON-encoded so that dicts and lists share one Arrow column). Each
    function scores only its own step type and returns None for the other; trl
    sums the functions' rewards per completion ignoring None (`nansum`, weights
    1.0), so a completion's reward is exactly its step type's score. trl logs each
    function's mean over the rows it scored (`rewards/ret/mean`, `rewards/ans/mean`);
    the format rates, the routing accuracy and the routing reward per gold KB
    of the batch go through trl's `log_metric` (`format_rate/ret`,
    `format_rate/ans`, `routing_accuracy`, `rewards/ret/<kb>|stop`).
    `encode` is the text KB's sentence encoder (`TextEncoder.encode`).
    """
    if cost_weight < 0:
        raise ValueError(f"cost_weight must be >= 0 (a penalty), got {cost_weight}")

    def ret(
        completions: Sequence[str | list[dict[str, Any]]],
        step_type: Sequence[str],
        gold: Sequence[str],
        log_metric: LogMetric | None = None,
        **_: Any,
    ) -> list[float | None]:
        """Routing decisions by `route_rewards`; None for answer steps."""
        index = rows_of(RET, step_type)
        golds = [RetGold.from_answer(json.loads(gold[i])) for i in index]
        scores = route_rewards([completion_text(completions[i]) for i in index], golds, encode, cost_weight)
        if scores and log_metric is not None:
            log_metric("format_rate/ret", rate([score.well_formed for score in scores]))
            log_metric("routing_accuracy", rate([score.routed_right for score in scores]))
            for kb, rewards in rewards_by_gold_kb(golds, scores).items():
                log_metric(f"rewards/ret/{kb}", sum(rewards) / len(rewards))
        return placed(index, [score.reward for score in scores], len(completions))

    return [ret, ans]


def ans(
    completions: Sequence[str | list[dict[str, Any]]],
    step_type: Sequence[str],
    gold: Sequence[str],
    log_metric: LogMetric | None = None,
    **_: Any,
) -> list[float | None]:
    """Answer steps by `answer_reward`; None for routing decisions (the trl reward function `step_rewards` lists)."""
    index = rows_of(ANS, step_type)
    scores = [answer_reward(completion_text(completions[i]), answer_golds(json.loads(gold[i]))) for i in index]
    if scores and log_metric is not None:
        log_metric("format_rate/ans", rate([well_formed for _, well_formed in scores]))
    return placed(index, [reward for reward, _ in scores], len(completions))

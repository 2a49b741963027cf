"""The R1-Router step-wise loop, batched across questions.

Step t, for every question still active: generate `<think><sub-question><ret>`
(batched), group the sub-questions by KB and retrieve each group in one call,
answer every sub-question from its hits (batched), append
`Sub-questionN / AnswerN` to the history. A `None` retriever stops a question.
After `max_steps` (or when all stopped) the final answers are generated, batched.

Who makes the routing decision is a strategy (`Decide`): the policy itself
(`PolicyDecide`, the router), or the world's gold plan (`gold_plan_decide`,
the demo's teacher for trajectory synthesis). Retrieval, sub-answers and the
final answer are the same real steps either way.

The official implementation runs one question at a time; this one never does.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from r1router.benchmarks.loaders import question_image
from r1router.benchmarks.schema import Question
from r1router.errors import ConfigError
from r1router.kb.hit import Hit
from r1router.kb.kinds import get_kind
from r1router.router.generation import Parsed, RecoveryConfig, generate_parsed
from r1router.router.generation_config import GenerationConfig, Policy
from r1router.router.parsing import AnswerOutput, Decision, parse_answer, parse_decision
from r1router.router.prompts import (
    ANSWER_END,
    DECISION_END,
    FEW_SHOT_FAMILY,
    decompose_messages,
    final_answer_messages,
    format_decision,
    sub_answer_messages,
)
from r1router.router.trajectory import Step, Trajectory

# (kb, queries, query images or None, k) -> hits per query; `Retrievers.search` has this shape.
Search = Callable[[str, list[str], list[Path | None] | None, int], list[list[Hit]]]


def ending_at(stop: str, **settings: object) -> GenerationConfig:
    """Generation that stops once `stop` is written, unless `settings` set `stop_strings` themselves."""
    return GenerationConfig(**{"stop_strings": (stop,), **settings})


@dataclass(frozen=True)
class LoopConfig:
    """`all_kbs_k`: passages per KB for the baselines that retrieve from every KB (`rag-all`, `iterative`).

    None gives them `k` per KB, i.e. `k` x the number of KBs in one prompt; on
    CPU that prompt's prefill is most of their cost, so the demo gives them
    about the single-KB methods' passage count instead.
    """

    max_steps: int = 3
    k: int = 5
    all_kbs_k: int | None = None
    few_shot: bool = False  # a prompt-only base model needs examples; a trained router does not
    # With few_shot: the examples' family (text | table | visual) for a question whose benchmark names none
    # (`r1router ask`); benchmark questions always get their benchmark's family.
    few_shot_family: str | None = None
    decision: GenerationConfig = field(default_factory=lambda: ending_at(DECISION_END, max_new_tokens=128))
    answer: GenerationConfig = field(default_factory=lambda: ending_at(ANSWER_END, max_new_tokens=96))
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.k < 1 or (self.all_kbs_k is not None and self.all_kbs_k < 1):
            raise ConfigError(
                f"max_steps, k and all_kbs_k must be >= 1 (got {self.max_steps}, {self.k}, {self.all_kbs_k})"
            )

    def k_per_kb(self, kb_count: int) -> int:
        """Passages per KB for a method that retrieves from `kb_count` KBs at once."""
        return self.k if kb_count == 1 or self.all_kbs_k is None else self.all_kbs_k


def strip_tags(text: str) -> str:
    """Fallback answer when the model never produced `<answer>`: its text without the tags."""
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        text = text.replace(tag, " ")
    return " ".join(text.split())


def _stop(_: str) -> Decision:
    return Decision(think="", sub_question=None, kb=None)


def answer_fallback(text: str) -> AnswerOutput:
    """Use the raw text (tags stripped) as the answer: an unparsable answer still counts for F1-Recall."""
    return AnswerOutput(think="", answer=strip_tags(text))


@dataclass
class Active:
    """One question in flight: what a decision strategy sees, and where the loop records the steps."""

    question: Question
    image: Path | None
    trajectory: Trajectory
    history: list[tuple[str, str]] = field(default_factory=list)
    done: bool = False


class Decide(Protocol):
    """Makes the next routing decision for every active question at once (one batched call)."""

    def __call__(self, active: list[Active]) -> list[Parsed[Decision]]: ...


@dataclass(frozen=True)
class PolicyDecide:
    """The router's own decision: the policy writes `<think><sub-question><ret>`, with format recovery."""

    policy: Policy
    config: LoopConfig

    def __call__(self, active: list[Active]) -> list[Parsed[Decision]]:
        def few_shot(state: Active) -> str | None:
            if not self.config.few_shot:
                return None
            return FEW_SHOT_FAMILY.get(state.question.dataset, self.config.few_shot_family)

        return generate_parsed(
            self.policy,
            [decompose_messages(s.question.question, s.history, image=s.image, few_shot=few_shot(s)) for s in active],
            parse_decision,
            _stop,
            self.config.decision,
            self.config.recovery,
        )


def gold_plan_decide(active: list[Active]) -> list[Parsed[Decision]]:
    """The world's gold plan as the decision: step n asks plan step n's sub-question of its KB, then stops.

    No model output is generated, so none is counted.
    """
    decisions = []
    for state in active:
        plan, taken = state.question.gold_plan, len(state.trajectory.steps)
        if plan is None:
            raise ConfigError(f"question {state.question.qid} has no gold plan (only demo benchmarks have one)")
        if taken < len(plan):
            decision = Decision(f"gold plan step {taken + 1}", plan[taken].sub_question, plan[taken].kb)
        else:
            decision = Decision("gold plan complete", None, None)
        raw = format_decision(decision.think, decision.sub_question, decision.kb)
        decisions.append(Parsed(decision, raw, format_errors=0, outputs=0))
    return decisions


class RouterLoop:
    """Runs the step-wise loop for a batch of questions with one policy and one set of KBs."""

    def __init__(
        self,
        policy: Policy,
        search: Search,
        config: LoopConfig,
        method: str = "router",
        on_step: Callable[[Trajectory, Step], None] | None = None,
        decide: Decide | None = None,
    ):
        """`on_step` is called as each step completes (stop decisions included), e.g. to print it live.

        `decide` makes the routing decisions (default: the policy); `policy` answers in every case.
        """
        self.policy, self.search, self.config, self.method = policy, search, config, method
        self.on_step = on_step
        self.decide = decide or PolicyDecide(policy, config)

    def run(self, questions: list[Question], image_root: Path | None = None) -> list[Trajectory]:
        started = time.monotonic()
        states = [
            Active(
                q,
                question_image(q, image_root),
                Trajectory(q.qid, q.dataset, q.question, q.image_id, self.method),
            )
            for q in questions
        ]
        for _ in range(self.config.max_steps):
            active = [s for s in states if not s.done]
            if not active:
                break
            self._step(active)
        self._final(states)
        elapsed = time.monotonic() - started
        for state in states:
            state.trajectory.seconds = elapsed
        return [s.trajectory for s in states]

    def _step(self, active: list[Active]) -> None:
        routed: list[tuple[Active, Step]] = []
        for state, parsed in zip(active, self.decide(active), strict=True):
            decision = parsed.value
            step = Step(decision.sub_question, decision.kb, think=decision.think, format_errors=parsed.format_errors)
            state.trajectory.steps.append(step)
            state.trajectory.count(*parsed.counts)
            if decision.kb is None:
                state.done = True
                self._report(state, step)
            else:
                routed.append((state, step))
        self._retrieve(routed)
        answers = generate_parsed(
            self.policy,
            [sub_answer_messages(step.sub_question or "", step.hits, image=s.image) for s, step in routed],
            parse_answer,
            answer_fallback,
            self.config.answer,
            self.config.recovery,
        )
        for (state, step), parsed in zip(routed, answers, strict=True):
            step.sub_answer = parsed.value.answer
            step.format_errors += parsed.format_errors
            state.trajectory.count(*parsed.counts)
            state.history.append((step.sub_question or "", step.sub_answer))
            self._report(state, step)

    def _report(self, state: Active, step: Step) -> None:
        if self.on_step is not None:
            self.on_step(state.trajectory, step)

    def _retrieve(self, routed: list[tuple[Active, Step]]) -> None:
        """One batched search per KB, whatever the number of questions routed to it.

        The KB's kind decides whether its queries carry the questions' images.
        """
        by_kb: dict[str, list[tuple[Active, Step]]] = defaultdict(list)
        for state, step in routed:
            by_kb[step.kb or ""].append((state, step))
        for kb, group in sorted(by_kb.items()):
            images = get_kind(kb).query_images([state.image for state, _ in group])
            hits = self.search(kb, [step.sub_question or "" for _, step in group], images, self.config.k)
            for (_, step), step_hits in zip(group, hits, strict=True):
                step.hits = step_hits

    def _final(self, states: list[Active]) -> None:
        finals = generate_parsed(
            self.policy,
            [final_answer_messages(s.question.question, s.history, image=s.image) for s in states],
            parse_answer,
            answer_fallback,
            self.config.answer,
            self.config.recovery,
        )
        for state, parsed in zip(states, finals, strict=True):
            state.trajectory.final_answer = parsed.value.answer
            state.trajectory.count(*parsed.counts)


def loop_config(params: dict, where: str = "loop") -> LoopConfig:
    """LoopConfig from a params.yaml `loop` section (keys as in the dataclasses); `where` names it in errors.

    Decisions stop at `</ret>` and answers at `</answer>` unless the section
    sets `stop_strings` (`[]`: run to EOS or `max_new_tokens`).
    """
    unknown = set(params) - {"max_steps", "k", "all_kbs_k", "decision", "answer", "recovery"}
    if unknown:
        raise ConfigError(f"params.yaml {where}: unknown keys {sorted(unknown)}")

    def build(key: str, make: Callable[..., Any], *args: object) -> Any:
        try:
            return make(*args, **params.get(key, {}))
        except (TypeError, ConfigError) as error:
            raise ConfigError(f"params.yaml {where}.{key}: {error}") from error

    decision = build("decision", ending_at, DECISION_END)
    answer = build("answer", ending_at, ANSWER_END)
    recovery = build("recovery", RecoveryConfig)
    try:
        return LoopConfig(
            max_steps=params.get("max_steps", 3),
            k=params.get("k", 5),
            all_kbs_k=params.get("all_kbs_k"),
            decision=decision,
            answer=answer,
            recovery=recovery,
        )
    except ConfigError as error:
        raise ConfigError(f"params.yaml {where}: {error}") from error

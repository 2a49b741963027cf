"""Baselines that share the router's harness, prompts and KBs.

- `direct`: answer from the question alone (no retrieval).
- `rag-<kb>` / `rag-all`: retrieve once with the original question from one KB
  or from every KB, answer once.
- `iterative` (IterRetGen-like): retrieve from every KB, answer, retrieve again
  with the question plus that answer, for the router's number of steps.

All are batched across questions, like the router loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from r1router.benchmarks.loaders import question_image
from r1router.benchmarks.schema import Question
from r1router.kb.hit import Hit
from r1router.kb.kinds import get_kind
from r1router.router.generation import generate_parsed
from r1router.router.generation_config import Policy
from r1router.router.loop import LoopConfig, Search, answer_fallback
from r1router.router.parsing import parse_answer
from r1router.router.prompts import final_answer_messages, sub_answer_messages
from r1router.router.trajectory import Step, Trajectory


@dataclass
class Baseline:
    """Shared plumbing: one policy, the KBs, the loop's generation settings."""

    method: str
    policy: Policy
    search: Search
    config: LoopConfig
    kbs: tuple[str, ...] = ()  # KBs to retrieve from; empty = no retrieval
    rounds: int = 1  # > 1: iterative retrieval, each round's query extended by the last answer

    def run(self, questions: list[Question], image_root: Path | None = None) -> list[Trajectory]:
        started = time.monotonic()
        images = [question_image(q, image_root) for q in questions]
        trajectories = [Trajectory(q.qid, q.dataset, q.question, q.image_id, self.method) for q in questions]
        if not self.kbs:
            self._answer(
                trajectories,
                [final_answer_messages(q.question, [], image=i) for q, i in zip(questions, images, strict=True)],
            )
        else:
            answers = [""] * len(questions)
            for _ in range(self.rounds):
                queries = [f"{q.question} {a}".strip() for q, a in zip(questions, answers, strict=True)]
                hits = self._retrieve_all(queries, images)
                steps = [Step(query, "+".join(self.kbs), hits=h) for query, h in zip(queries, hits, strict=True)]
                conversations = [
                    sub_answer_messages(q.question, h, image=i) for q, h, i in zip(questions, hits, images, strict=True)
                ]
                answers = self._answer(trajectories, conversations)
                for trajectory, step, answer in zip(trajectories, steps, answers, strict=True):
                    step.sub_answer = answer
                    trajectory.steps.append(step)
        elapsed = time.monotonic() - started
        for trajectory in trajectories:
            trajectory.seconds = elapsed
        return trajectories

    def _retrieve_all(self, queries: list[str], images: list[Path | None]) -> list[list[Hit]]:
        merged: list[list[Hit]] = [[] for _ in queries]
        k = self.config.k_per_kb(len(self.kbs))
        for kb in self.kbs:
            for row, hits in enumerate(self.search(kb, queries, get_kind(kb).query_images(images), k)):
                merged[row].extend(hits)
        return merged

    def _answer(self, trajectories: list[Trajectory], conversations: list[list[dict]]) -> list[str]:
        parsed = generate_parsed(
            self.policy, conversations, parse_answer, answer_fallback, self.config.answer, self.config.recovery
        )
        for trajectory, result in zip(trajectories, parsed, strict=True):
            trajectory.final_answer = result.value.answer
            trajectory.count(*result.counts)
        return [result.value.answer for result in parsed]

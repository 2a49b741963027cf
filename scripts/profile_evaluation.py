"""Where an evaluation method's time goes: prompt kinds, prefilled vs cached tokens, decoded tokens, retrieval.

    python scripts/profile_evaluation.py [--methods rag-text,prompt-router] [--questions 8] [--batch-size N]

Runs each method as the evaluate stage does (its policy and `router.loop`
settings from params.yaml, the built KBs, the first `--questions` test
questions of every benchmark, all in one batched run) with the policy and the
search wrapped in counters. Per method and per call kind (decision,
sub-answer, final answer) it reports the rows generated, the prompt tokens the
model prefilled per row (everything after the shared prefix the prefix cache
holds), the cached prefix tokens, the tokens decoded, and the seconds; then
the seconds spent in retrieval. The last line is a JSON object of the same
numbers, so a change to the loop or its settings can be judged against where
the time actually goes.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from r1router.benchmarks.registry import split_files
from r1router.config import stage_params
from r1router.evaluation.harness import load_questions
from r1router.kb.retriever import Retrievers
from r1router.router.backends import load_policy
from r1router.router.generation_config import Conversation, GenerationConfig
from r1router.router.methods import make_method
from r1router.router.policy import CausalLMPolicy
from r1router.router.profile import router_config
from r1router.router.prompts import FINAL_ANSWER_SYSTEM, SUB_ANSWER_SYSTEM

COUNTERS = ("calls", "rows", "prefill_tokens", "cached_prefix_tokens", "decoded_tokens", "seconds")


def call_kind(conversation: Conversation) -> str:
    """decision | sub-answer | final, by the conversation's system prompt."""
    system = conversation[0]["content"] if conversation[0]["role"] == "system" else ""
    system = system if isinstance(system, str) else "".join(p.get("text", "") for p in system)
    if system == SUB_ANSWER_SYSTEM:
        return "sub-answer"
    if system == FINAL_ANSWER_SYSTEM:
        return "final"
    return "decision"


class CountingPolicy:
    """A `CausalLMPolicy` whose every `generate` call is counted by kind; outputs are the policy's own."""

    def __init__(self, policy: CausalLMPolicy):
        self.policy = policy
        self.multimodal = policy.multimodal
        self.counts: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))

    def generate(self, conversations: list[Conversation], config: GenerationConfig) -> list[str]:
        started = time.perf_counter()
        texts = self.policy.generate(conversations, config)
        seconds = time.perf_counter() - started
        ids = self.policy.tokenize(self.policy.render(conversations))
        cached = self.policy.prefix_lengths(conversations, ids) if config.shares_prefix else [0] * len(ids)
        entry = self.counts[call_kind(conversations[0])]
        entry["calls"] += 1
        entry["rows"] += len(conversations)
        entry["prefill_tokens"] += sum(len(row) - prefix for row, prefix in zip(ids, cached, strict=True))
        entry["cached_prefix_tokens"] += sum(cached)
        entry["decoded_tokens"] += sum(len(row) for row in self.policy.tokenize(texts))
        entry["seconds"] += seconds
        return texts


def timed_search(search: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    def search_and_time(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return search(*args)
        finally:
            spent[0] += time.perf_counter() - started

    return search_and_time


def profile_method(method: str, params: dict[str, Any], limit: int, batch_size: int | None) -> dict[str, Any]:
    """`batch_size` (None: params.yaml's) replaces the decision and answer batch sizes of `router.loop`."""
    router = router_config()
    loop = router.loop
    if batch_size is not None:
        loop = replace(
            loop,
            decision=replace(loop.decision, batch_size=batch_size),
            answer=replace(loop.answer, batch_size=batch_size),
        )
    world = Path(params["world_dir"])
    questions = [
        q
        for group in load_questions(split_files(world, params["split"]), world / "images", limit).values()
        for q in group
    ]
    policy = load_policy(router.policy_spec(params["methods"][method], f"evaluate.methods.{method}"))
    if not isinstance(policy, CausalLMPolicy):
        raise SystemExit(f"{method}: only an in-process text policy can be profiled (got {type(policy).__name__})")
    counting, retrieval = CountingPolicy(policy), [0.0]
    search = timed_search(Retrievers(Path(params["kb_dir"]), params["kbs"], router.device).search, retrieval)
    runner = make_method(method, counting, search, loop, tuple(params["kbs"]))
    started = time.perf_counter()
    runner.run(questions, world / "images")
    kinds = {kind: {k: round(v, 2) for k, v in entry.items()} for kind, entry in counting.counts.items()}
    return {
        "questions": len(questions),
        "seconds": round(time.perf_counter() - started, 2),
        "retrieval_seconds": round(retrieval[0], 2),
        "kinds": kinds,
    }


def print_table(profiles: dict[str, dict[str, Any]]) -> None:
    print("| method | kind | rows | prefill tok/row | cached tok/row | decoded tok/row | s | share of method |")
    print("| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for method, profile in profiles.items():
        for kind, entry in sorted(profile["kinds"].items()):
            rows = max(entry["rows"], 1)
            print(
                f"| {method} | {kind} | {entry['rows']:.0f} | {entry['prefill_tokens'] / rows:.0f} | "
                f"{entry['cached_prefix_tokens'] / rows:.0f} | {entry['decoded_tokens'] / rows:.1f} | "
                f"{entry['seconds']:.1f} | {entry['seconds'] / profile['seconds']:.0%} |"
            )
        print(
            f"| {method} | retrieval | | | | | {profile['retrieval_seconds']:.1f} | "
            f"{profile['retrieval_seconds'] / profile['seconds']:.0%} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="rag-text,rag-table,iterative,prompt-router,sft")
    parser.add_argument("--questions", type=int, default=8, help="per benchmark (the demo evaluates 8)")
    parser.add_argument("--batch-size", type=int, help="decision and answer batch size (default: params.yaml's)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    params = stage_params("evaluate")
    unknown = [m for m in args.methods.split(",") if m not in params["methods"]]
    if unknown:
        parser.error(f"not methods of evaluate.methods: {', '.join(unknown)}")
    profiles = {
        method: profile_method(method, params, args.questions, args.batch_size) for method in args.methods.split(",")
    }
    print_table(profiles)
    print(json.dumps(profiles, sort_keys=True))


if __name__ == "__main__":
    main()

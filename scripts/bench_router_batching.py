"""Throughput of the router loop: one question at a time vs batched vs batched with the shared-prefix cache.

    python scripts/bench_router_batching.py --questions 6 --batch-size 6 [--few-shot] [--threads 0]

Three runs over the same questions with the same policy and the `router.loop`
settings of params.yaml (greedy decoding):
  (a) sequential: one question at a time, no prefix cache (the official code's way);
  (b) batched:    all questions together, no prefix cache;
  (c) batched with the prefix cache: system prompt and few-shot turns prefilled once.
Prints seconds and questions/s per run, the ratios b/a and c/a, and how many
final answers of (b) and (c) equal those of (a) (greedy decoding makes them equal
unless batching changed the arithmetic enough to flip a token).

Questions come from the demo world's split when it is built, else from a small
built-in set in the demo benchmarks' style. Retrieval uses the built KBs; when
they are not built (or with --policy-only) every retrieval returns no passages,
so the loop still runs all its prompts (decision, sub-answer, final) but the
sub-answer prompts are shorter than with real passages.

One torch thread by default: on a machine shared with other jobs, more
threads than free cores make every decode step wait for a descheduled thread
(the sequential run, with the most steps, suffers most: several times slower
here). `--threads 0` keeps torch's default (one per core) on a machine of
your own.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from r1router.benchmarks.loaders import load_split
from r1router.benchmarks.schema import Question
from r1router.config import stage_params
from r1router.kb.build import MANIFEST
from r1router.kb.hit import Hit
from r1router.kb.retriever import Retrievers
from r1router.router.backends import PolicySpec, load_policy
from r1router.router.loop import LoopConfig, RouterLoop, Search
from r1router.router.profile import router_config
from r1router.router.prompts import decompose_messages
from r1router.router.trajectory import Trajectory

# One question per demo benchmark, about fictional entities, as the demo world asks them.
BUILTIN = [
    ("demo_2wikimultihopqa", "Where was the director of the film The Copper Lantern born?"),
    ("demo_openwikitqa", "How many gold medals did Vesteria win at the 1998 Norland Games?"),
    ("demo_tabfact", "Lake Dunmere is deeper than 40 metres according to the list of lakes in Corvania."),
    ("demo_infoseek", "In which year was this bridge opened?"),
    ("demo_dyn_vqa", "Who is the current mayor of the city where this tower stands?"),
    ("demo_webqa", "What colour is the roof of the Harbor of Glass museum?"),
    ("demo_2wikimultihopqa", "Which film came out first, Silver Orchard or The Quiet Harbor?"),
    ("demo_openwikitqa", "Which club won the Corvanian cup in 2003?"),
]


def mixed_questions(params: dict, count: int) -> tuple[list[Question], Path | None]:
    """The world's split, round-robin over its benchmarks, or the built-in set when the world is not built."""
    world = Path(params["world_dir"])
    if not (world / "questions").is_dir():
        questions = [Question(f"builtin-{i}", text, [], dataset) for i, (dataset, text) in enumerate(BUILTIN)]
        return (questions * (count // len(questions) + 1))[:count], None
    by_dataset: dict[str, list[Question]] = {}
    for question in load_split(world, params["split"]):
        by_dataset.setdefault(question.dataset, []).append(question)
    return [q for group in zip(*by_dataset.values(), strict=False) for q in group][:count], world / "images"


def no_passages(kb: str, queries: list[str], images: list | None, k: int) -> list[list[Hit]]:
    return [[] for _ in queries]


def search_function(params: dict, policy_only: bool) -> tuple[Search, str]:
    kb_root = Path(params["kb_dir"])
    if not policy_only and all((kb_root / kind / MANIFEST).is_file() for kind in params["kbs"]):
        return Retrievers(kb_root, params["kbs"]).search, f"KBs in {kb_root}"
    return no_passages, "none (policy only: KBs not built or --policy-only)"


def timed(loop: RouterLoop, questions: list[Question], images: Path | None, one_at_a_time: bool):
    started = time.perf_counter()
    groups = [[q] for q in questions] if one_at_a_time else [questions]
    trajectories = [trajectory for group in groups for trajectory in loop.run(group, images)]
    return time.perf_counter() - started, trajectories


def same_answers(these: list[Trajectory], reference: list[Trajectory]) -> int:
    return sum(a.final_answer == b.final_answer for a, b in zip(these, reference, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=6)
    parser.add_argument("--few-shot", action="store_true", help="prompt-only router prompts (longer)")
    parser.add_argument("--max-steps", type=int, default=2, help="routing steps (params.yaml router.loop has 3)")
    parser.add_argument("--model", type=Path, help="policy model dir (default: the first method's in params.yaml)")
    parser.add_argument("--policy-only", action="store_true", help="no retrieval, even when the KBs are built")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--precision", help="auto | float32 | bfloat16 (default: params.yaml router.precision)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    params, router = stage_params("evaluate"), router_config()
    model_dir = args.model or Path(next(iter(params["methods"].values())))
    if not (model_dir / "config.json").is_file():
        parser.error(f"no model in {model_dir}: run `dvc repro models` or `r1router models pull`, or pass --model")
    questions, images = mixed_questions(params, args.questions)
    search, retrieval = search_function(params, args.policy_only)
    precision = args.precision or router.precision
    policy = load_policy(PolicySpec(model=str(model_dir), precision=precision))
    base = replace(router.loop, few_shot=args.few_shot, max_steps=args.max_steps)

    def configured(batch_size: int, prefix_cache: bool) -> LoopConfig:
        def generation(config):
            return replace(config, batch_size=batch_size, prefix_cache=prefix_cache)

        return replace(base, decision=generation(base.decision), answer=generation(base.answer))

    sequential = RouterLoop(policy, search, configured(1, prefix_cache=False))
    batched = RouterLoop(policy, search, configured(args.batch_size, prefix_cache=False))
    cached = RouterLoop(policy, search, configured(args.batch_size, prefix_cache=True))
    # warm-up: first-call overheads (thread pools, allocator) out of every timing, prefix cache left empty
    warm_up = [decompose_messages(q.question, []) for q in questions[:2]]
    policy.generate(warm_up, replace(base.decision, max_new_tokens=2, prefix_cache=False))

    runs = {
        "a": timed(sequential, questions, images, one_at_a_time=True),
        "b": timed(batched, questions, images, one_at_a_time=False),
        "c": timed(cached, questions, images, one_at_a_time=False),
    }
    names = {"a": "sequential", "b": "batched", "c": "batched + prefix cache"}
    n = len(questions)
    print(
        f"questions: {n}  batch size: {args.batch_size}  few-shot: {args.few_shot}  max steps: {base.max_steps}  "
        f"max new tokens: {base.decision.max_new_tokens}/{base.answer.max_new_tokens}  "
        f"torch threads: {torch.get_num_threads()}  precision: {precision}  retrieval: {retrieval}"
    )
    sequential_seconds, reference = runs["a"]
    for key, (seconds, trajectories) in runs.items():
        print(
            f"({key}) {names[key]:24s} {seconds:8.1f} s  {n / seconds:6.3f} questions/s  "
            f"final answers identical to (a): {same_answers(trajectories, reference)}/{n}"
        )
    print(f"throughput ratio b/a (batching):                {sequential_seconds / runs['b'][0]:.2f}x")
    print(f"throughput ratio c/a (batching + prefix cache): {sequential_seconds / runs['c'][0]:.2f}x")


if __name__ == "__main__":
    main()

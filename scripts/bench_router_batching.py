"""Throughput of the batched router loop against one question at a time, same model, same questions.

    python scripts/bench_router_batching.py --questions 32 --batch-size 16

Both runs use the demo profile's KBs and policy and the `evaluate.loop` settings of
params.yaml (greedy decoding), so they produce the same answers; only batching differs.
Prints seconds for each mode and the throughput ratio (batched / sequential).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from r1router.benchmarks.loaders import load_split
from r1router.config import stage_params
from r1router.kb.retriever import Retrievers
from r1router.router.loop import RouterLoop, loop_config
from r1router.router.policy import load_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--few-shot", action="store_true", help="prompt-only router prompts (longer)")
    args = parser.parse_args()

    params = stage_params("evaluate")
    world = Path(params["world_dir"])
    questions = load_split(world, params["split"])
    # an even mix of benchmarks: round-robin over them
    by_dataset: dict[str, list] = {}
    for question in questions:
        by_dataset.setdefault(question.dataset, []).append(question)
    mixed = [q for group in zip(*by_dataset.values(), strict=False) for q in group][: args.questions]

    retrievers = Retrievers(Path(params["kb_dir"]), params["kbs"])
    policy = load_policy(next(iter(params["methods"].values())))
    base = replace(loop_config(params["loop"]), few_shot=args.few_shot)

    def configured(batch_size: int):
        return replace(
            base,
            decision=replace(base.decision, batch_size=batch_size),
            answer=replace(base.answer, batch_size=batch_size),
        )

    images = world / "images"
    batched_loop = RouterLoop(policy, retrievers.search, configured(args.batch_size))
    sequential_loop = RouterLoop(policy, retrievers.search, configured(1))
    batched_loop.run(mixed[:2], images)  # warm-up: first-call overheads out of both timings

    started = time.perf_counter()
    batched = batched_loop.run(mixed, images)
    batched_seconds = time.perf_counter() - started
    started = time.perf_counter()
    sequential = [sequential_loop.run([q], images)[0] for q in mixed]
    sequential_seconds = time.perf_counter() - started

    same = sum(a.final_answer == b.final_answer for a, b in zip(batched, sequential, strict=True))
    print(f"questions: {len(mixed)}  batch size: {args.batch_size}  few-shot: {args.few_shot}")
    print(f"batched:    {batched_seconds:8.1f} s  ({len(mixed) / batched_seconds:.3f} questions/s)")
    print(f"sequential: {sequential_seconds:8.1f} s  ({len(mixed) / sequential_seconds:.3f} questions/s)")
    print(f"identical final answers: {same}/{len(mixed)}")
    print(f"throughput ratio (batched / sequential): {sequential_seconds / batched_seconds:.2f}x")


if __name__ == "__main__":
    main()

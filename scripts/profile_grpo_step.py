"""Where a Step-GRPO optimizer step spends its time: generation, reward, forward, backward.

Builds the same trainer as the `grpo` stage (`r1router.training.grpo.build_grpo_trainer`)
on real step rows and times the trainer's own phases by wrapping its methods on the
instance:

- generate: `_generate_single_turn` (HF `generate` of every completion of the step),
- reward: `_calculate_rewards` (the `ret` and `ans` reward functions, sentence encoder included),
- score: the rest of `_prepare_inputs` (tokenising, old log-probs when needed, advantages),
- forward: `compute_loss` (the policy's forward pass and the loss),
- backward: the rest of `training_step` (backward pass) plus the optimizer step.

Example (the demo's shape: 4 prompts x 4 generations, ~500-token decision prompts):

    python scripts/profile_grpo_step.py --prompts 4 --generations 4 --max-completion-length 96 --steps 2

Prints one JSON line per optimizer step and a summary table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import r1router  # noqa: F401  (torchvision compatibility: before transformers)

# isort: split
from transformers import TrainerCallback

from r1router.benchmarks import default_release_dir
from r1router.encoders.text import TextEncoder
from r1router.training.common import load_rows
from r1router.training.grpo import build_grpo_trainer
from r1router.training.rewards import step_rewards

PHASES = ("generate", "reward", "score", "forward", "backward")


def timed(method: Callable[..., Any], name: str, totals: dict[str, float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - start

    return wrapper


class PhaseTimer(TrainerCallback):
    """Turns the running phase totals into one record per optimizer step."""

    def __init__(self, totals: dict[str, float], per_step: list[dict[str, float]]):
        self.totals = totals
        self.per_step = per_step
        self.start = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.totals.clear()
        self.start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        wall = time.perf_counter() - self.start
        t = self.totals
        phases = {
            "generate": t["generate"],
            "reward": t["reward"],
            "score": t["prepare"] - t["generate"] - t["reward"],
            "forward": t["forward"],
            "backward": t["step"] - t["prepare"] - t["forward"],
            "optimizer+other": wall - t["step"],
        }
        self.per_step.append({"wall": wall, **phases})
        print(json.dumps({"step": state.global_step, **{k: round(v, 2) for k, v in self.per_step[-1].items()}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=Path, default=default_release_dir() / "stepgrpo_trajectories_sample.jsonl")
    parser.add_argument("--model", type=Path, default=Path("models/policy"))
    parser.add_argument("--encoder", type=Path, default=Path("models/text_encoder"))
    parser.add_argument("--step-types", default="ret", help="comma-separated: ret, ans")
    parser.add_argument("--prompts", type=int, default=2, help="prompts (step rows) per optimizer step")
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=96)
    parser.add_argument("--max-prompt-length", type=int, default=768)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="full fine-tune instead of LoRA r=16")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    rows = load_rows(args.rows, args.step_types.split(","))
    settings = {
        "seed": 0,
        "device": args.device,
        "max_prompt_length": args.max_prompt_length,
        "lora": None if args.full else {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"},
        "trainer": {
            "learning_rate": 1e-5,
            "num_generations": args.generations,
            "per_device_train_batch_size": args.prompts * args.generations,
            "max_completion_length": args.max_completion_length,
            "max_steps": args.steps,
            "logging_steps": 1,
            "save_steps": 10_000,  # only the final (LoRA: small) checkpoint, in a temporary directory
        },
    }
    rewards = step_rewards(TextEncoder(args.encoder, device=args.device).encode)
    with tempfile.TemporaryDirectory() as tmp:
        trainer, _, counts = build_grpo_trainer(rows, args.model, rewards, Path(tmp), settings)
        totals: dict[str, float] = defaultdict(float)
        per_step: list[dict[str, float]] = []
        for name, attribute in (
            ("generate", "_generate_single_turn"),
            ("reward", "_calculate_rewards"),
            ("prepare", "_prepare_inputs"),
            ("forward", "compute_loss"),
            ("step", "training_step"),
        ):
            setattr(trainer, attribute, timed(getattr(trainer, attribute), name, totals))

        trainer.add_callback(PhaseTimer(totals, per_step))
        trainer.train()
    history = [entry for entry in trainer.state.log_history if "completions/mean_length" in entry]
    print(f"\nrows: {counts}; {args.prompts} prompts x {args.generations} generations per step")
    for entry in history:
        print(
            f"step {entry['step']}: mean completion {entry['completions/mean_length']:.0f} tokens, "
            f"clipped {entry['completions/clipped_ratio']:.0%}, reward {entry['reward']:.3f}"
        )
    steady = per_step[1:] or per_step  # the first step pays one-off costs
    mean_wall = sum(step["wall"] for step in steady) / len(steady)
    print(f"\nmean over {len(steady)} step(s): {mean_wall:.1f} s/step")
    for phase in (*PHASES, "optimizer+other"):
        seconds = sum(step[phase] for step in steady) / len(steady)
        print(f"  {phase:16s} {seconds:7.1f} s  {100 * seconds / mean_wall:5.1f}%")


if __name__ == "__main__":
    main()

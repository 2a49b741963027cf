"""float32 against bfloat16 on this machine, for the work the demo's stages do: is `precision: bfloat16` worth it here?

    python scripts/bench_precision.py [--model models/policy] [--threads 0]

Each precision loads the policy as the stages load it (`r1router.device.resolve_dtype`)
and times, after one warm-up of each:
  train:    one LoRA step (forward + backward, r16 on every linear layer, as the demo's
            SFT and GRPO), under bf16 autocast for bfloat16 as the trainer runs it;
  prefill:  a forward pass over long prompts (the sub-answer prompts with passages);
  generate: greedy decoding of short prompts (decisions and answers).
Prints seconds per phase and the float32/bfloat16 ratio (> 1: bf16 is faster).

Inputs are random token ids of fixed shapes, so the ratios measure arithmetic,
not a particular text. On a CPU without AVX512-BF16 or AMX, torch emulates bf16
and the ratios come out below 1: keep `precision: float32` there.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch

import r1router.torchvision_compat  # noqa: F401  (transformers imports torchvision)
from r1router.device import cpu_has_bf16, resolve_dtype
from r1router.models.loading import load_causal_lm
from r1router.training.common import lora_config

PRECISIONS = ("float32", "bfloat16")
LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}


def seconds(work: Callable[[], object], repeats: int) -> float:
    """Mean wall time of `repeats` calls after one untimed warm-up call."""
    work()
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - start) / repeats


def phases(model_dir: Path, precision: str, args: argparse.Namespace) -> dict[str, float]:
    """Seconds per phase for one precision; a fresh model each time, so LoRA wrapping does not leak across."""
    from peft import get_peft_model

    dtype = resolve_dtype(precision, "cpu")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype is torch.bfloat16 else nullcontext()
    model, _ = load_causal_lm(model_dir, "cpu", dtype)
    generator = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size

    def tokens(rows: int, length: int) -> torch.Tensor:
        return torch.randint(100, vocab, (rows, length), generator=generator)

    long_prompts, short_prompts = tokens(args.prefill_rows, args.prefill_length), tokens(16, 300)

    def prefill() -> None:
        with torch.no_grad():
            model(input_ids=long_prompts, logits_to_keep=1)

    def generate() -> None:
        model.generate(
            input_ids=short_prompts,
            attention_mask=torch.ones_like(short_prompts),
            max_new_tokens=48,
            min_new_tokens=48,
            do_sample=False,
        )

    timings = {"prefill": seconds(prefill, 1), "generate": seconds(generate, 1)}
    trainable = get_peft_model(model, lora_config(LORA))
    trainable.train()
    batch = tokens(args.train_rows, args.train_length)

    def train_step() -> None:
        with autocast:
            loss = trainable(input_ids=batch, labels=batch).loss
        loss.backward()
        trainable.zero_grad()

    timings["train"] = seconds(train_step, 2)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/policy"))
    parser.add_argument("--train-rows", type=int, default=4)
    parser.add_argument("--train-length", type=int, default=600, help="tokens per training row (a ret row ~560)")
    parser.add_argument("--prefill-rows", type=int, default=8)
    parser.add_argument("--prefill-length", type=int, default=1500, help="tokens per prompt (5 tables ~1500)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if not (args.model / "config.json").is_file():
        parser.error(f"no model in {args.model}: run `dvc repro models`, or pass --model")

    results = {precision: phases(args.model, precision, args) for precision in PRECISIONS}
    print(
        f"model: {args.model}  torch threads: {torch.get_num_threads()}  native CPU bf16: {cpu_has_bf16()}  "
        f"train: {args.train_rows}x{args.train_length}  prefill: {args.prefill_rows}x{args.prefill_length}  "
        "generate: 16x300 + 48 new"
    )
    print(f"{'phase':<10}{'float32 s':>12}{'bfloat16 s':>12}{'ratio':>8}")
    for phase in ("train", "prefill", "generate"):
        fp32, bf16 = results["float32"][phase], results["bfloat16"][phase]
        print(f"{phase:<10}{fp32:>12.2f}{bf16:>12.2f}{fp32 / bf16:>7.2f}x")


if __name__ == "__main__":
    main()

"""Cost of stop strings per `generate` call: transformers' own (rebuilt every call) vs `stop_criteria` (built once).

    python scripts/bench_stop_criteria.py [--model models/policy] [--calls 20]

Both runs make the same short greedy `generate` calls (one new token, a
one-line prompt) on the same model; the only difference is how the stop strings
reach `generate`:
  rebuilt: `GenerationConfig(stop_strings=...)` plus `tokenizer=`, as the HF backends did: transformers builds
           a `StopStringCriteria` over the whole vocabulary inside every call;
  cached:  `stopping_criteria=stop_criteria(tokenizer, stops)` (r1router.router.hf_generate), built once.
The last line printed is a JSON object with calls/s of both and their ratio.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from r1router.router.generation_config import GenerationConfig
from r1router.router.hf_generate import hf_generation_config, stop_criteria
from r1router.router.prompts import DECISION_END


def calls_per_s(generate: Callable[[], object], calls: int) -> float:
    generate()  # warm-up
    started = time.perf_counter()
    for _ in range(calls):
        generate()
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/policy"))
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    inputs = tokenizer(["Which retriever answers this?"], return_tensors="pt")
    config = GenerationConfig(max_new_tokens=1, stop_strings=(DECISION_END,))
    plain = hf_generation_config(config, model.generation_config)
    with_strings = hf_generation_config(config, model.generation_config)
    with_strings.stop_strings = list(config.stop_strings)

    with torch.inference_mode():
        rebuilt = calls_per_s(
            lambda: model.generate(**inputs, generation_config=with_strings, tokenizer=tokenizer), args.calls
        )
        criteria = stop_criteria(tokenizer, config.stop_strings)
        cached = calls_per_s(
            lambda: model.generate(**inputs, generation_config=plain, stopping_criteria=criteria), args.calls
        )
    result = {
        "vocab": len(tokenizer),
        "calls": args.calls,
        "rebuilt_calls_per_s": round(rebuilt, 2),
        "cached_calls_per_s": round(cached, 2),
        "ratio": round(cached / rebuilt, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""KB embedding throughput: the pipeline (`embedded` over a kind's `encode_documents`) vs the bare forward.

    python scripts/bench_embedding.py [--input data/world/kb/text.parquet] [--count 2000] [--device auto]

Both runs embed the same passages with the same encoder in one process:
  bare:     the model's forward pass alone over batches tokenised beforehand (untimed), length-sorted, on the
            device already: the most the hardware gives with this model and batch size;
  pipeline: what `r1router kb build` does: records → passages → tokenise → forward → normalise → fp32
            shards written atomically to a fresh cache, with progress.
The last line printed is a JSON object with `pipeline_per_s`, `bare_per_s` and `ratio` (pipeline / bare).

Passages come from any KB input (`.jsonl`, `.parquet`, a corpus directory); the demo world's text KB by
default, repeated to `--count` when it holds fewer.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from r1router.device import resolve_device
from r1router.encoders.text import TextEncoder
from r1router.kb.embed import embedded
from r1router.kb.kinds import get_kind
from r1router.kb.records import load_records


def passages(input_path: Path, count: int) -> list[dict]:
    records = load_records(input_path, get_kind("text"))
    return [{**records[i % len(records)], "id": f"r{i}"} for i in range(count)]


def bare_forward(encoder: TextEncoder, texts: list[str], batch_size: int) -> float:
    """Seconds of forward passes alone over length-sorted batches that were tokenised and moved beforehand."""
    ordered = sorted(texts, key=len, reverse=True)
    batches = []
    for start in range(0, len(ordered), batch_size):
        features = encoder.model.preprocess(ordered[start : start + batch_size])
        batches.append({k: v.to(encoder.device) if torch.is_tensor(v) else v for k, v in features.items()})
    with torch.inference_mode():
        encoder.model(batches[0])  # warm-up
        if encoder.device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        for features in batches:
            torch.nn.functional.normalize(encoder.model(features)["sentence_embedding"], dim=-1)
        if encoder.device.startswith("cuda"):
            torch.cuda.synchronize()
    return time.perf_counter() - started


def pipeline(encoder: TextEncoder, records: list[dict], shard_size: int) -> float:
    kind = get_kind("text")
    encoder.encode([kind.passage(records[0])])  # warm-up, as the bare run has
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        with embedded(
            records,
            lambda batch: kind.encode_documents(encoder, batch, Path(".")),
            Path(cache),
            fingerprint="bench",
            shard_size=shard_size,
            desc="bench pipeline",
        ):
            return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=Path("data/world/kb/text.parquet"))
    parser.add_argument("--encoder", type=Path, default=Path("models/text_encoder"))
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=2048)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = resolve_device(args.device)
    encoder = TextEncoder(args.encoder, device, batch_size=args.batch_size)
    records = passages(args.input, args.count)
    texts = [get_kind("text").passage(record) for record in records]
    bare_s = bare_forward(encoder, texts, args.batch_size)
    pipeline_s = pipeline(encoder, records, args.shard_size)
    tokens = sum(len(encoder.model.tokenizer(text)["input_ids"]) for text in texts[:200]) / min(200, len(texts))
    result = {
        "device": device,
        "count": len(records),
        "batch_size": args.batch_size,
        "mean_tokens": round(tokens, 1),
        "torch_threads": torch.get_num_threads(),
        "bare_per_s": round(len(records) / bare_s, 1),
        "pipeline_per_s": round(len(records) / pipeline_s, 1),
        "ratio": round(bare_s / pipeline_s, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

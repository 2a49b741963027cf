"""The corpus and kb stages on Ray: 1 vs 2 local workers against the single-process path, outputs compared.

    python scripts/bench_distributed.py [--count 3000] [--pages 3000] [--encoder models/text_encoder]

kb: `build_kb` of `--count` passages of the demo world's text KB (repeated, new ids) with the demo
encoder, in shards of `--shard-size`; wiki: `build_wiki_corpus` of a synthetic multistream dump of
`--pages` pages (`bench_corpus_wiki.write_dump`, enwiki's article/redirect mix). Each runs in this
process (`local`, torch on every core), then on a fresh local Ray cluster of 1 and of 2 workers; a
cluster's start-up is timed apart from the build. Every run's output files are compared byte for byte
with the local run's. The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from bench_corpus_wiki import write_dump
from bench_embedding import passages

from r1router.corpus.wiki import build_wiki_corpus
from r1router.distributed.engine import Engine, ray_cluster
from r1router.kb.build import build_kb
from r1router.kb.index import IndexConfig

ENGINES = {"local": Engine(), "ray-1": Engine("ray", workers=1), "ray-2": Engine("ray", workers=2)}


def files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def run_on(engine: Engine, build: Callable[[Engine], dict[str, bytes]]) -> dict:
    """Seconds of `build`, seconds to start the engine's cluster before it, and the bytes it wrote."""
    started = time.perf_counter()
    with ray_cluster(engine) if engine.is_ray else nullcontext():
        begin = time.perf_counter()
        output = build(engine)
        seconds = time.perf_counter() - begin
    return {"seconds": round(seconds, 2), "startup_s": round(begin - started, 2), "output": output}


def compare(title: str, unit: str, amount: int, runs: dict[str, dict]) -> dict:
    """Print one stage's table; return its numbers: seconds, rates, speedup of 2 over 1 worker, identity."""
    local = runs["local"]["output"]
    summary: dict = {"amount": amount, "unit": unit}
    print(f"\n{title}: {amount} {unit}\n| engine | start-up s | build s | {unit}/s | identical to local |")
    print("| :--- | ---: | ---: | ---: | :--- |")
    for name, run in runs.items():
        same = run["output"] == local
        print(f"| {name} | {run['startup_s']} | {run['seconds']} | {amount / run['seconds']:.1f} | {same} |")
        summary[name] = {"seconds": run["seconds"], "startup_s": run["startup_s"], "identical": same}
    summary["speedup_2_vs_1_workers"] = round(runs["ray-1"]["seconds"] / runs["ray-2"]["seconds"], 2)
    summary["identical"] = all(summary[name]["identical"] for name in runs)
    print(f"speedup, 2 vs 1 Ray workers: {summary['speedup_2_vs_1_workers']}x")
    return summary


def bench_kb(work: Path, source: Path, encoder: Path, count: int, shard_size: int) -> dict:
    records = work / "passages.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in passages(source, count)))
    spec = {"family": "text", "path": str(encoder.resolve())}

    def build(engine: Engine) -> dict[str, bytes]:
        out = work / "kb" / "text"
        shards = work / f"shards-{len(list(work.glob('shards-*')))}"
        build_kb(
            "text",
            records,
            out,
            spec,
            IndexConfig(),
            shard_dir=shards,
            device="cpu",
            shard_size=shard_size,
            replace=True,
            engine=engine,
        )
        return files(out)

    return compare("kb embedding", "passages", count, {name: run_on(e, build) for name, e in ENGINES.items()})


def bench_wiki(work: Path, pages: int) -> dict:
    dump, index, _ = write_dump(work, pages, seed=0)

    def build(engine: Engine) -> dict[str, bytes]:
        out = work / f"corpus-{len(list(work.glob('corpus-*')))}"
        build_wiki_corpus(dump, out, index=index, shard_size=5000, engine=engine)
        return files(out)

    return compare("wiki corpus", "pages", pages, {name: run_on(e, build) for name, e in ENGINES.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=Path("data/world/kb/text.parquet"))
    parser.add_argument("--encoder", type=Path, default=Path("models/text_encoder"))
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--pages", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kb-work").mkdir()
        (Path(tmp) / "wiki-work").mkdir()
        kb = bench_kb(Path(tmp) / "kb-work", args.input, args.encoder, args.count, args.shard_size)
        wiki = bench_wiki(Path(tmp) / "wiki-work", args.pages)
    print(json.dumps({"kb": kb, "wiki": wiki}))


if __name__ == "__main__":
    main()

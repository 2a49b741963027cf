"""`r1router corpus wiki|owt|mbeir|release`: build a KB corpus from your own dump, tables or pool.

Each command writes Parquet shards with `id` and `text` (the passage the
policy will see) into `--out`, resumes a killed run there, and refuses an
`--out` that holds anything else; `r1router kb build --input DIR` embeds it.
The pipeline's `corpus` stage runs the same builders (`r1router.corpus.builds`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

corpus_app = typer.Typer(help="Corpora in the paper's formats → Parquet shards for `kb build`.", no_args_is_help=True)

InputOption = Annotated[Path, typer.Option("--input", exists=True, dir_okay=False, help="the source file")]
OutOption = Annotated[Path, typer.Option("--out", file_okay=False, help="shard directory (new or in progress)")]
ShardOption = Annotated[int, typer.Option("--shard-size", min=1, help="records per Parquet shard")]
EngineOption = Annotated[str, typer.Option("--engine", help="local (this process) or ray")]
AddressOption = Annotated[
    str | None, typer.Option("--address", help="a Ray cluster to attach to (default: RAY_ADDRESS, else a local one)")
]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="parallel Ray workers (CPUs of a local cluster)")]


def engine_from_options(engine: str, address: str | None, workers: int) -> Any:
    """The `Engine` of `--engine/--address/--workers`; None for the single-process path (no flags given)."""
    from r1router.distributed.engine import Engine

    return None if engine == "local" and address is None else Engine(engine, address, workers)


def _run(fmt: str, source: Path, out: Path, engine: Any = None, **options: Any) -> None:
    """Build; the writer refuses an `--out` holding other files (the input among them), so nothing is overwritten."""
    from r1router.corpus.builds import check_build, corpus_counts, run_build

    run_build(check_build(fmt, {"format": fmt, "input": str(source), **options}), out, engine=engine)
    typer.echo(json.dumps(corpus_counts(out), indent=2, sort_keys=True))


@corpus_app.command("wiki")
def wiki(
    input: InputOption,
    out: OutOption,
    index: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="multistream index")] = None,
    redirects: Annotated[str, typer.Option(help="keep (paper-faithful title-only passages) or drop")] = "keep",
    shard_size: ShardOption = 50_000,
    engine: EngineOption = "local",
    address: AddressOption = None,
    workers: WorkersOption = 2,
) -> None:
    """An enwiki `pages-articles-multistream.xml.bz2` → 100-word windows, as the paper's text corpus.

    With `--engine ray` (and the index) runs of bz2 streams are parsed on the cluster; the corpus is the same bytes.
    """
    on = engine_from_options(engine, address, workers)
    _run("wiki", input, out, engine=on, index=index, redirects=redirects, shard_size=shard_size)


@corpus_app.command("owt")
def owt(
    input: InputOption,
    out: OutOption,
    bad_rows: Annotated[str, typer.Option(help="fail, or skip (counted) a table whose row and header differ")] = "fail",
    shard_size: ShardOption = 50_000,
) -> None:
    """Open-WikiTable's `splitted_tables.json` (or its `data.tar.gz`) → the paper's linearised tables."""
    _run("owt", input, out, bad_rows=bad_rows, shard_size=shard_size)


@corpus_app.command("mbeir")
def mbeir(
    input: InputOption,
    out: OutOption,
    images: Annotated[Path | None, typer.Option(exists=True, file_okay=False, help="the M-BEIR image root")] = None,
    bad_lines: Annotated[str, typer.Option(help="fail, or skip (counted) a bad pool line")] = "fail",
    shard_size: ShardOption = 50_000,
) -> None:
    """An M-BEIR candidate pool JSONL → text, image and image+text candidates."""
    _run("mbeir", input, out, images_root=images, bad_lines=bad_lines, shard_size=shard_size)


@corpus_app.command("release")
def release(input: InputOption, out: OutOption, shard_size: ShardOption = 50_000) -> None:
    """A released Step-GRPO trajectory file → OUT/text, OUT/table, OUT/image from the passages it retrieved."""
    _run("release", input, out, shard_size=shard_size)

"""One corpus build named in params (`corpus.builds.<name>: {format, input, …}`) → its builder.

The pipeline's `corpus` stage and `r1router corpus <format>` both come here,
so a BYO build and the paper profile's stage run the same code with the same
options. Builders are imported when used: the wiki parser's dependencies are
not loaded for a table build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1router.corpus.shards import MANIFEST, read_manifest
from r1router.distributed.engine import Engine
from r1router.errors import ConfigError

FORMATS: dict[str, tuple[str, ...]] = {  # format → the options its builder takes besides input and out_dir
    "wiki": ("index", "redirects", "window", "stride", "shard_size"),
    "owt": ("bad_rows", "shard_size"),
    "mbeir": ("images_root", "bad_lines", "shard_size"),
    "release": ("shard_size",),
}
PATH_OPTIONS = ("index", "images_root")  # options naming input files: paths to the builder, content to the cache


def check_build(name: str, spec: Any) -> dict[str, Any]:
    """A build spec with only known keys, or a ConfigError naming the key."""
    where = f"corpus.builds.{name}"
    if not isinstance(spec, dict) or spec.get("format") not in FORMATS or not isinstance(spec.get("input"), str):
        raise ConfigError(f"{where}: needs 'format' (one of {', '.join(FORMATS)}) and an 'input' path")
    if unknown := sorted(set(spec) - {"format", "input", *FORMATS[spec["format"]]}):
        raise ConfigError(f"{where}: unknown option(s) {unknown} for format '{spec['format']}'")
    return spec


def run_build(spec: dict[str, Any], out_dir: Path, engine: Engine | None = None) -> dict[str, Any]:
    """Run one build into `out_dir` (resuming a run in progress there); return its manifest(s).

    A Ray `engine` serves the wiki builder (its bz2 streams split across the
    cluster); the other formats read one sequential file and run here.
    """
    options = {k: (Path(v) if k in PATH_OPTIONS and v is not None else v) for k, v in spec.items()}
    source = Path(options.pop("input"))
    fmt = options.pop("format")
    if fmt == "wiki":
        from r1router.corpus.wiki import build_wiki_corpus

        return build_wiki_corpus(source, out_dir, engine=engine, **options)
    if fmt == "owt":
        from r1router.corpus.owt import build_owt_corpus

        return build_owt_corpus(source, out_dir, **options)
    if fmt == "mbeir":
        from r1router.corpus.mbeir import build_mbeir_corpus

        return build_mbeir_corpus(source, out_dir, **options)
    from r1router.corpus.release import build_release_corpus

    return build_release_corpus(source, out_dir, **options)


def corpus_counts(out_dir: Path) -> dict[str, Any]:
    """Records and counts (in, kept, dropped by reason) of every finished corpus under `out_dir`, by its path."""
    out_dir = Path(out_dir)
    found = {}
    for manifest in sorted(out_dir.rglob(MANIFEST)):
        corpus = manifest.parent
        name = corpus.relative_to(out_dir).as_posix() if corpus != out_dir else "."
        found[name] = read_manifest(corpus)["counts"]
    return found

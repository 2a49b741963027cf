"""Measure the enwiki dump → passages step on synthetic multistream dumps: rate, peak memory, full-dump projection.

Usage: python scripts/bench_corpus_wiki.py [--pages 2000] [--scale 10] [--no-index]

Writes two dumps laid out like `pages-articles-multistream.xml.bz2` (header
stream, streams of 100 pages, index), `--pages` and `--scale` × `--pages`
pages, with enwiki's mix of articles (~500 words of wikitext: infobox, links,
refs, headings, lists, a table, categories) and redirects. Each size is built
by `build_wiki_corpus` in a fresh interpreter that reports its own peak RSS
(VmHWM), so the ratio of the two peaks shows whether memory stays flat as the
dump grows. Prints a markdown table and the projected time for the full dump.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from r1router.corpus.multistream import MultistreamWriter, Page

ENWIKI_ARTICLES = 6_900_000
ENWIKI_REDIRECTS = 11_000_000
ENWIKI_BZ2_GB = 23.0
ENWIKI_XML_GB = 100.0  # uncompressed; bz2 packs enwiki's XML about 4.3×
PAGES_PER_STREAM = 100
SYLLABLES = ("vel", "mor", "ta", "ris", "dor", "vik", "an", "sel", "bra", "kon", "li", "tur", "mes", "zan", "or", "pe")


def _words(rng: random.Random, vocabulary: list[str], count: int) -> list[str]:
    return [rng.choice(vocabulary) for _ in range(count)]


def _paragraph(rng: random.Random, vocabulary: list[str], count: int) -> str:
    """Prose with enwiki's inline markup: links (some piped), bold, italics, a ref, an inline template."""
    out = []
    for word in _words(rng, vocabulary, count):
        roll = rng.random()
        if roll < 0.08:
            out.append(f"[[{word.capitalize()}]]")
        elif roll < 0.11:
            out.append(f"[[{word.capitalize()} {rng.choice(vocabulary)}|{word}]]")
        elif roll < 0.12:
            out.append(f"''{word}''")
        elif roll < 0.125:
            out.append(f"{word}.<ref>{{{{cite web |url=https://example.org/{word} |title={word}}}}}</ref>")
        elif roll < 0.13:
            out.append(f"{word} {{{{convert|{rng.randint(1, 900)}|km}}}}")
        else:
            out.append(word)
    return " ".join(out) + "."


def article_wikitext(rng: random.Random, vocabulary: list[str], title: str) -> str:
    """About 500 words of wikitext laid out like an enwiki article."""
    infobox = "\n".join(
        f"| {key} = [[{rng.choice(vocabulary).capitalize()}]]" for key in ("country", "founder", "type")
    )
    sections = [f"{{{{Short description|{title}}}}}\n{{{{Infobox settlement\n| name = {title}\n{infobox}\n}}}}"]
    sections.append(f"'''{title}''' is a " + _paragraph(rng, vocabulary, 90))
    for heading in ("History", "Geography", "Culture"):
        sections.append(f"== {heading} ==\n" + "\n\n".join(_paragraph(rng, vocabulary, 60) for _ in range(2)))
    sections.append("== See also ==\n" + "\n".join(f"* [[{w.capitalize()}]]" for w in _words(rng, vocabulary, 5)))
    cells = _words(rng, vocabulary, 8)
    rows = "\n|-\n".join(f"| {a} || {b}" for a, b in zip(cells[::2], cells[1::2], strict=True))
    sections.append('{| class="wikitable"\n! Name !! Value\n|-\n' + rows + "\n|}")
    sections.append(
        "== References ==\n{{Reflist}}\n" + "\n".join(f"[[Category:{w}]]" for w in _words(rng, vocabulary, 3))
    )
    return "\n\n".join(sections)


def write_dump(directory: Path, pages: int, seed: int) -> tuple[Path, Path, int]:
    """A multistream dump of `pages` pages (enwiki's article/redirect mix) and its index; and its XML size."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(5000)]
    redirect_share = ENWIKI_REDIRECTS / (ENWIKI_ARTICLES + ENWIKI_REDIRECTS)
    dump, index = directory / f"dump-{pages}.xml.bz2", directory / f"dump-{pages}-index.txt.bz2"
    last_article = "Main"
    with MultistreamWriter(dump, index) as writer:
        for first in range(1, pages + 1, PAGES_PER_STREAM):
            stream = []
            for page_id in range(first, min(first + PAGES_PER_STREAM, pages + 1)):
                title = " ".join(_words(rng, vocabulary, rng.randint(1, 4))).title() + f" {page_id}"
                if rng.random() < redirect_share:
                    stream.append(Page(page_id, title, 0, last_article, f"#REDIRECT [[{last_article}]]"))
                else:
                    stream.append(Page(page_id, title, 0, None, article_wikitext(rng, vocabulary, title)))
                    last_article = title
            writer.stream(stream)
    return dump, index, writer.xml_bytes


def peak_rss_mib() -> float:
    """This process's own peak RSS: VmHWM (ru_maxrss after exec can carry the parent's peak on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(dump: Path, index: Path | None, out: Path, shard_size: int) -> None:
    """Build one corpus and print its numbers as one JSON line (run in a fresh interpreter)."""
    from r1router.corpus.wiki import build_wiki_corpus

    start = time.perf_counter()
    manifest = build_wiki_corpus(dump, out, index=index, shard_size=shard_size)
    seconds = time.perf_counter() - start
    numbers = {"seconds": seconds, "pages": manifest["pages_in"], "passages": manifest["passages"]}
    print(json.dumps({**numbers, "peak_rss_mib": peak_rss_mib()}))


def measure(dump: Path, index: Path | None, out: Path, shard_size: int) -> dict:
    command = [sys.executable, __file__, "--child", str(dump), "--out", str(out), "--shard-size", str(shard_size)]
    if index is not None:
        command += ["--index", str(index)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(rows: list[dict], with_index: bool, shard_size: int) -> str:
    mode = "with index" if with_index else "without index"
    lines = [
        f"Wiki corpus build ({mode}, shards of {shard_size:,} records), one process:",
        "",
        "| pages | dump bz2 MiB | XML MiB | seconds | pages/s | passages/s | XML MiB/s | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['pages']:,} | {row['bz2_mib']:.1f} | {row['xml_mib']:.1f} | {row['seconds']:.1f} | "
            f"{row['pages'] / row['seconds']:,.0f} | {row['passages'] / row['seconds']:,.0f} | "
            f"{row['xml_mib'] / row['seconds']:.2f} | {row['peak_rss_mib']:.0f} |"
        )
    small, large = rows[0], rows[-1]
    pages_rate = large["pages"] / large["seconds"]
    xml_rate = large["xml_mib"] / large["seconds"]
    full_pages = ENWIKI_ARTICLES + ENWIKI_REDIRECTS
    lines += [
        "",
        f"Peak RSS {large['pages'] // small['pages']}× pages / 1×: {large['peak_rss_mib'] / small['peak_rss_mib']:.2f}",
        f"Projected full enwiki ({ENWIKI_ARTICLES / 1e6:.1f} M articles + {ENWIKI_REDIRECTS / 1e6:.0f} M redirects, "
        f"~{ENWIKI_BZ2_GB:.0f} GB bz2, ~{ENWIKI_XML_GB:.0f} GB XML), one process:",
        f"- by pages, at this mix's {pages_rate:,.0f} pages/s: {full_pages / pages_rate / 3600:.1f} h "
        "(if enwiki articles were as short as these ~500-word ones)",
        f"- by XML bytes, at {xml_rate:.2f} MiB/s: {ENWIKI_XML_GB * 1024 / xml_rate / 3600:.1f} h "
        "(cost per byte of wikitext as here; real articles average ~4× this wikitext, mostly templates and refs)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000, help="pages of the 1× dump")
    parser.add_argument("--scale", type=int, default=10, help="the larger dump is this many times larger")
    parser.add_argument("--no-index", action="store_true", help="scan the dump instead of seeking by its index")
    parser.add_argument(
        "--shard-size",
        type=int,
        default=5000,
        help="records per shard: the writer buffers one shard, the one memory term that grows (up to it)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.index, args.out, args.shard_size)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-corpus-wiki-") as tmp:
        for pages in (args.pages, args.pages * args.scale):
            dump, index, xml_bytes = write_dump(Path(tmp), pages, args.seed)
            numbers = measure(dump, None if args.no_index else index, Path(tmp) / f"out-{pages}", args.shard_size)
            sizes = {"bz2_mib": dump.stat().st_size / 2**20, "xml_mib": xml_bytes / 2**20}
            rows.append({**numbers, **sizes})
            print(f"{pages:,} pages: {numbers['seconds']:.1f} s", file=sys.stderr)
    print(report(rows, not args.no_index, args.shard_size))


if __name__ == "__main__":
    main()

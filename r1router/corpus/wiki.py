"""The enwiki dump → the text KB's passages: streaming, resumable, sharded Parquet.

Input is `enwiki-…-pages-articles-multistream.xml.bz2`: bz2 streams laid end to
end, the first holding `<mediawiki …><siteinfo>…</siteinfo>`, then one stream
per 100 `<page>`s, the file ending `</mediawiki>`. With its
`…-multistream-index.txt.bz2` (`offset:page_id:title` lines, offset = the byte
where the page's stream starts) a unit of work is one stream: it is read and
decompressed on its own, so a resumed run seeks straight past the units already
in shards. Without the index the file is decompressed from the start and a unit
is `PAGES_PER_UNIT` consecutive pages. Either way each unit's pages are parsed by
mwxml as a small document of their own (the header's `<mediawiki><siteinfo>`,
the pages, `</mediawiki>`), so memory stays flat: one whole-dump XML parse would
keep an empty element per page attached to the root, 18 million of them.

A page becomes a document as the paper's wikiextractor + `wiki_preprocess.py`
made it (`wikitext.py`), the document becomes passages (`windows.py`), and each
passage a record `{id, text, page_id, page_title, window}`, id
`wiki-{page_id}-{window}`: stable whatever the walk order or the resume point.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError

import mwxml
from mwxml.errors import MalformedXML

from r1router.corpus.shards import ShardWriter
from r1router.corpus.wikitext import clean_wikitext, document_text, title_passage
from r1router.corpus.windows import window_passages
from r1router.distributed.engine import Engine
from r1router.errors import ConfigError, DataError
from r1router.progress import Progress

log = logging.getLogger(__name__)

FORMAT = "enwiki-pages-articles-multistream"
CLEANER = "wikiextractor-3.0-defaults/mwparserfromhell/1"  # bump when wikitext.py's output changes
REDIRECT_MODES = ("keep", "drop")
PAGES_PER_UNIT = 100  # without an index: the size of a multistream stream
ARTICLE_NAMESPACE = 0
LIST_TITLE = re.compile(r"(List of .+)|(Index of .+)|(Outline of .+)")  # the paper's filter, as written
DISAMBIGUATION_MARKS = ("(disambiguation)", "(disambiguation page)")
TRUNCATED = "truncated bz2 stream: the file ends before the stream's end-of-stream marker"
_CHUNK = 1 << 20
_MIB = 1 << 20
_PAGE_END = b"</page>"
_DUMP_END = b"</mediawiki>"
_XML_ERRORS = (ParseError, MalformedXML, ValueError, TypeError, AttributeError, KeyError)


@dataclass(frozen=True)
class PageGroup:
    """One unit's pages as raw XML, with what an error message needs to point at them."""

    unit: int
    header: bytes  # `<mediawiki …><siteinfo>…</siteinfo>`, shared by every group
    xml: bytes
    field: str  # `stream@<byte offset>` or `page#<ordinal of its first page>`
    end_byte: int  # how far into the dump file the group ends: progress


@dataclass(frozen=True)
class ParsedUnit:
    """One unit's records and counts, as the writer takes them: parsed here or on a Ray worker."""

    unit: int
    records: list[dict[str, Any]]
    counts: Counter[str]
    end_byte: int


@dataclass(frozen=True)
class StreamLayout:
    """What the multistream index says about the dump: its header, and the byte range of each unit's stream."""

    header: bytes
    bounds: list[tuple[int, int]]  # [start, end) in the dump file, unit i at position i


@dataclass(frozen=True)
class WikiPage:
    id: int
    title: str
    namespace: int
    redirect: bool
    text: str


def build_wiki_corpus(
    dump: Path,
    out_dir: Path,
    *,
    index: Path | None = None,
    redirects: str = "keep",
    window: int = 100,
    stride: int = 50,
    shard_size: int = 50_000,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Write the dump's passages to `out_dir` as Parquet shards; resume an interrupted run there; return the manifest.

    `redirects="keep"` (the paper's corpus) turns a redirect page into one
    passage, its title; `"drop"` leaves redirects out. A Ray `engine` parses
    the index's streams on its cluster (`r1router.distributed.wiki`); the writer
    takes them in order, so the shards are the single-process ones byte for byte.
    """
    dump, out_dir = Path(dump), Path(out_dir)
    index = Path(index) if index is not None else None
    if redirects not in REDIRECT_MODES:
        raise ConfigError(f"redirects must be one of {', '.join(REDIRECT_MODES)}, got {redirects!r}")
    if window < 1 or stride < 1:
        raise ConfigError(f"window and stride must be at least 1, got {window} and {stride}")
    for path in (dump, index):
        if path is not None and not path.is_file():
            raise DataError(path, "no such file")
    writer = ShardWriter(out_dir, _settings(dump, index, redirects, window, stride, shard_size), shard_size)
    if engine is not None and engine.is_ray and index is None:
        log.warning("wiki corpus: without a multistream index the dump is one stream of work; parsing it here")
    if engine is not None and engine.is_ray and index is not None:
        from r1router.distributed.wiki import units_on_ray

        units = units_on_ray(dump, stream_layout(dump, index), writer.skip, engine, redirects, window, stride)
    else:
        groups = groups_by_index(dump, index, writer.skip) if index is not None else groups_by_scan(dump)
        units = (
            _group_records(dump, group, redirects, window, stride) for group in groups if not writer.skip(group.unit)
        )
    total_mib = max(1, math.ceil(dump.stat().st_size / _MIB))
    with Progress(total_mib, f"wiki corpus {dump.name}", unit="MiB") as progress:
        for parsed in units:
            writer.counts.update(parsed.counts)
            writer.add_unit(parsed.unit, parsed.records)
            progress.update(parsed.end_byte // _MIB - progress.done)
        progress.update(total_mib - progress.done)
    counts = writer.counts
    log.info("wiki corpus: %d pages in, %d kept, %d passages", counts["in"], counts["pages.kept"], counts["kept"])
    return writer.finish(_summary(counts, redirects))


def _settings(
    dump: Path, index: Path | None, redirects: str, window: int, stride: int, shard_size: int
) -> dict[str, Any]:
    """What identifies a build: resuming with another dump, index or option is refused by the writer."""
    return {
        "format": FORMAT,
        "cleaner": CLEANER,
        "dump": file_identity(dump),
        "index": file_identity(index) if index is not None else None,
        "unit": "bz2 stream" if index is not None else f"{PAGES_PER_UNIT} pages",
        "redirects": redirects,
        "window": window,
        "stride": stride,
        "shard_size": shard_size,
    }


def _summary(counts: Counter[str], redirects: str) -> dict[str, Any]:
    """The manifest's overview of `counts` (which it holds too)."""
    return {
        "pages_in": counts["in"],
        "pages_kept": counts["pages.kept"],
        "passages": counts["kept"],
        "redirects_kept": counts["redirects"] if redirects == "keep" else 0,
        "redirects_dropped": counts["dropped.redirect"],
        "dropped": {key.removeprefix("dropped."): n for key, n in sorted(counts.items()) if key.startswith("dropped.")},
    }


def file_identity(path: Path) -> dict[str, Any]:
    """Name, size and the sha256 of the first and last MiB (all of a file up to 2 MiB).

    Hashing all of a 23 GB dump would add minutes to every start and resume;
    another dump of the same size with the same last pages is not a real risk.
    """
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(_MIB))
        handle.seek(max(_MIB, size - _MIB))
        digest.update(handle.read())
    return {"name": path.name, "size": size, "sha256_head_tail": digest.hexdigest()}


def stream_offsets(index: Path) -> list[int]:
    """The distinct stream offsets of a multistream index, in file order (only these stay in memory)."""
    offsets: list[int] = []
    opener = bz2.open if index.name.endswith(".bz2") else open
    line_no = 0
    try:
        with opener(index, "rt", encoding="utf-8") as lines:
            for line_no, line in enumerate(lines, start=1):
                offset = _index_offset(index, line, line_no)
                if offsets and offset < offsets[-1]:
                    message = f"offset {offset} after {offsets[-1]}: offsets must not decrease"
                    raise DataError(index, message, line=line_no)
                if not offsets or offset != offsets[-1]:
                    offsets.append(offset)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DataError(index, f"unreadable after line {line_no}: {error}") from error
    if not offsets:
        raise DataError(index, "holds no lines")
    return offsets


def _index_offset(index: Path, line: str, line_no: int) -> int:
    offset, _, rest = line.rstrip("\n").partition(":")
    page_id, colon, _title = rest.partition(":")
    if not (offset.isdigit() and page_id.isdigit() and colon):
        raise DataError(index, f"expected 'offset:page_id:title', got {line.rstrip()[:120]!r}", line=line_no)
    return int(offset)


def stream_layout(dump: Path, index: Path) -> StreamLayout:
    """The dump's header and its units' byte ranges, from the index: each range decompresses on its own."""
    offsets = stream_offsets(index)
    size = dump.stat().st_size
    if offsets[0] == 0 or offsets[-1] >= size:
        raise DataError(index, f"offsets {offsets[0]}…{offsets[-1]} do not fit a dump of {size} bytes after its header")
    with open(dump, "rb") as handle:
        header = _header(dump, _decompress_range(dump, handle, 0, offsets[0]))
    return StreamLayout(header, list(zip(offsets, [*offsets[1:], size], strict=True)))


def read_stream(dump: Path, handle: BinaryIO, header: bytes, unit: int, start: int, end: int) -> PageGroup:
    """The group of the unit whose stream lies in bytes [start, end) of the dump open in `handle`."""
    return PageGroup(
        unit, header, _without_dump_end(_decompress_range(dump, handle, start, end)), f"stream@{start}", end
    )


def groups_by_index(dump: Path, index: Path, skip: Callable[[int], bool]) -> Iterator[PageGroup]:
    """One group per bz2 stream named by the index; a stream `skip` says is done is yielded without being read."""
    layout = stream_layout(dump, index)
    with open(dump, "rb") as handle:
        for unit, (start, end) in enumerate(layout.bounds):
            if skip(unit):
                yield PageGroup(unit, layout.header, b"", f"stream@{start}", end)
            else:
                yield read_stream(dump, handle, layout.header, unit, start, end)


def parse_streams(
    dump: Path, header: bytes, redirects: str, window: int, stride: int, units: list[tuple[int, int, int]]
) -> list[ParsedUnit]:
    """Read and parse `(unit, start, end)` streams of the dump: the work of one Ray task, any range of the file."""
    with open(dump, "rb") as handle:
        return [
            _group_records(dump, read_stream(dump, handle, header, unit, start, end), redirects, window, stride)
            for unit, start, end in units
        ]


def _decompress_range(dump: Path, handle: BinaryIO, start: int, end: int) -> bytes:
    """The bz2 stream(s) in bytes [start, end) of the dump, decompressed; a truncated or corrupt one is a DataError."""
    handle.seek(start)
    decompressor = bz2.BZ2Decompressor()
    parts = []
    remaining = end - start
    try:
        while remaining and (chunk := handle.read(min(_CHUNK, remaining))):
            remaining -= len(chunk)
            while chunk:
                if decompressor.eof:  # a range may end with the stream that only closes </mediawiki>
                    decompressor = bz2.BZ2Decompressor()
                parts.append(decompressor.decompress(chunk))
                chunk = decompressor.unused_data if decompressor.eof else b""
    except OSError as error:
        raise DataError(dump, f"corrupt bz2 stream: {error}", field=f"stream@{start}") from error
    if not decompressor.eof:
        raise DataError(dump, TRUNCATED, field=f"stream@{start}")
    return b"".join(parts)


def _header(dump: Path, xml: bytes) -> bytes:
    end = xml.find(b"</siteinfo>")
    if end < 0 or b"<page>" in xml[:end]:
        raise DataError(dump, "the first bz2 stream is not the dump's <mediawiki><siteinfo> header", field="stream@0")
    return xml[: end + len(b"</siteinfo>")]


def _without_dump_end(xml: bytes) -> bytes:
    stripped = xml.rstrip()
    return stripped[: -len(_DUMP_END)] if stripped.endswith(_DUMP_END) else xml


def groups_by_scan(dump: Path) -> Iterator[PageGroup]:
    """Groups of `PAGES_PER_UNIT` pages, cut from the decompressed dump at `</page>`.

    `</page>` cannot occur inside a page: XML escapes a `<` in text.
    """
    header: bytes | None = None
    pages: list[bytes] = []
    ordinal = 0  # pages before the current group
    pending = b""
    consumed = 0
    for consumed, data in _decompressed_chunks(dump):
        text = pending + data
        start = 0
        if header is None:
            first = text.find(b"<page>")
            if first < 0:
                pending = text
                continue
            header, start = _header(dump, text[:first]), first
        while (end := text.find(_PAGE_END, start)) >= 0:
            end += len(_PAGE_END)
            pages.append(text[start:end])
            start = end
            if len(pages) == PAGES_PER_UNIT:
                yield _scanned_group(header, pages, ordinal, consumed)
                ordinal += len(pages)
                pages = []
        pending = text[start:]
    if header is None:
        _header(dump, pending)  # a dump without pages must still be a dump
    elif pages:
        yield _scanned_group(header, pages, ordinal, consumed)
    if b"<page" in pending:
        raise DataError(dump, "the dump ends inside a page", field=f"page#{ordinal + len(pages) + 1}")


def _scanned_group(header: bytes, pages: list[bytes], ordinal: int, consumed: int) -> PageGroup:
    return PageGroup(ordinal // PAGES_PER_UNIT, header, b"".join(pages), f"page#{ordinal + 1}", consumed)


def _decompressed_chunks(dump: Path) -> Iterator[tuple[int, bytes]]:
    """(compressed bytes read, decompressed data) across all the dump's streams; errors name the failing stream."""
    decompressor = bz2.BZ2Decompressor()
    stream_start = consumed = 0
    with open(dump, "rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                consumed += len(chunk)
                while chunk:
                    if decompressor.eof:
                        stream_start = consumed - len(chunk)
                        decompressor = bz2.BZ2Decompressor()
                    data = decompressor.decompress(chunk)
                    chunk = decompressor.unused_data if decompressor.eof else b""
                    yield consumed, data
        except OSError as error:
            raise DataError(dump, f"corrupt bz2 stream: {error}", field=f"stream@{stream_start}") from error
    if not decompressor.eof:
        raise DataError(dump, TRUNCATED, field=f"stream@{stream_start}")


def iter_pages(dump: Path, group: PageGroup) -> Iterator[WikiPage]:
    """The group's pages, parsed by mwxml; malformed XML is a DataError at the group's stream or page."""
    document = io.BytesIO(group.header + group.xml + _DUMP_END)
    parsed = 0
    try:
        for page in mwxml.Dump.from_file(document):
            text = ""
            for revision in page:  # pages-articles holds one revision; the last is the current one
                text = revision.text or ""
            yield WikiPage(int(page.id), str(page.title), int(page.namespace), page.redirect is not None, text)
            parsed += 1
    except _XML_ERRORS as error:
        where = f"after {parsed} good pages of this unit" if parsed else "in its first page"
        raise DataError(dump, f"malformed page XML {where}: {error}", field=group.field) from error


def _group_records(dump: Path, group: PageGroup, redirects: str, window: int, stride: int) -> ParsedUnit:
    """The group's passages as records, and its counts: in, kept, redirects, dropped by reason."""
    records = []
    counts: Counter[str] = Counter()
    for page in iter_pages(dump, group):
        counts["in"] += 1
        document, reason = page_document(page, redirects)
        if page.redirect and reason in (None, "redirect"):  # a redirect the title filters let through
            counts["redirects"] += 1
        if document is None:
            counts[f"dropped.{reason}"] += 1
            continue
        passages = window_passages(document, window, stride)
        counts["pages.kept"] += 1
        counts["kept"] += len(passages)
        records.extend(
            {"id": f"wiki-{page.id}-{n}", "text": text, "page_id": page.id, "page_title": page.title, "window": n}
            for n, text in enumerate(passages)
        )
    return ParsedUnit(group.unit, records, counts, group.end_byte)


def page_document(page: WikiPage, redirects: str) -> tuple[str | None, str | None]:
    """(the page's document, None), or (None, why it is dropped): the paper's filters, in its order."""
    if page.namespace != ARTICLE_NAMESPACE:
        return None, "namespace"
    if any(mark in page.title.lower() for mark in DISAMBIGUATION_MARKS):
        return None, "disambiguation"
    if LIST_TITLE.match(page.title):
        return None, "list"
    if page.redirect:
        return (title_passage(page.title), None) if redirects == "keep" else (None, "redirect")
    body = clean_wikitext(page.text)
    if not body.strip():
        return None, "empty"
    return document_text(page.title, body), None

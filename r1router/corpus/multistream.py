"""Write a dump in Wikimedia's `pages-articles-multistream` layout: the inverse of what `wiki.py` reads.

A first bz2 stream holds the `<mediawiki><siteinfo>` header, each following
stream a group of `<page>`s (Wikimedia: 100), a last stream closes
`</mediawiki>`; the `-index.txt.bz2` beside it has one `offset:page_id:title`
line per page, `offset` being the byte where its stream starts. The reader's
tests, the paper-format pipeline test and `scripts/bench_corpus_wiki.py`
build their inputs with this one writer, so all three exercise the layout
the reader expects; pages are written stream by stream, so a benchmark dump
of any size is written in bounded memory.
"""

from __future__ import annotations

import bz2
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from types import TracebackType

HEADER = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">
  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>enwiki</dbname>
    <base>https://en.wikipedia.org/wiki/Main_Page</base>
    <generator>MediaWiki 1.44.0-wmf.1</generator>
    <case>first-letter</case>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="1" case="first-letter">Talk</namespace>
      <namespace key="10" case="first-letter">Template</namespace>
      <namespace key="14" case="first-letter">Category</namespace>
    </namespaces>
  </siteinfo>
"""
FOOTER = "</mediawiki>\n"


@dataclass(frozen=True)
class Page:
    page_id: int
    title: str
    namespace: int
    redirect: str | None  # the target title of a redirect page
    text: str  # wikitext


def page_xml(page: Page) -> str:
    """One `<page>` element as the dumps write it (title and text XML-escaped, the redirect as an element)."""
    redirect_tag = f'    <redirect title="{escape(page.redirect)}" />\n' if page.redirect else ""
    return (
        f"  <page>\n    <title>{escape(page.title, quote=False)}</title>\n    <ns>{page.namespace}</ns>\n"
        f"    <id>{page.page_id}</id>\n{redirect_tag}    <revision>\n      <id>{page.page_id * 100}</id>\n"
        "      <timestamp>2024-05-01T00:00:00Z</timestamp>\n"
        "      <contributor>\n        <username>Editor</username>\n        <id>7</id>\n      </contributor>\n"
        "      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
        f'      <text bytes="{len(page.text.encode())}" xml:space="preserve">{escape(page.text, quote=False)}</text>\n'
        "      <sha1>0123456789abcdefghijklmnopqrstu</sha1>\n    </revision>\n  </page>\n"
    )


class MultistreamWriter:
    """`with MultistreamWriter(dump, index) as w: w.stream(pages)` per stream; the footer is written on exit."""

    def __init__(self, dump: Path, index: Path):
        self.dump, self.index = Path(dump), Path(index)
        self.xml_bytes = len(HEADER)

    def __enter__(self) -> MultistreamWriter:
        self._out = open(self.dump, "wb")  # closed in __exit__
        self._lines = bz2.open(self.index, "wt", encoding="utf-8")
        self._out.write(bz2.compress(HEADER.encode()))
        return self

    def stream(self, pages: Iterable[Page], xml: str | None = None) -> None:
        """One bz2 stream of `pages`; `xml` replaces their XML (a malformed stream), not their index lines."""
        pages = list(pages)
        offset = self._out.tell()
        for page in pages:
            self._lines.write(f"{offset}:{page.page_id}:{page.title}\n")
        data = (xml if xml is not None else "".join(page_xml(page) for page in pages)).encode()
        self.xml_bytes += len(data)
        self._out.write(bz2.compress(data))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self._out.write(bz2.compress(FOOTER.encode()))
        self._out.close()
        self._lines.close()


def write_multistream(
    dump: Path, index: Path, pages: Iterable[Page], per_stream: int = 100
) -> tuple[Path, Path]:
    """A whole dump of `pages`, `per_stream` pages to a stream, and its index."""
    pages = list(pages)
    with MultistreamWriter(dump, index) as writer:
        for start in range(0, len(pages), per_stream):
            writer.stream(pages[start : start + per_stream])
    return dump, index

"""enwiki dump → passages: wikiextractor's cleaning, the paper's filters, ids, index/scan parity, exact resume, errors.

Every test reads a small dump written the way Wikimedia writes
`pages-articles-multistream.xml.bz2`: a bz2 stream holding the
`<mediawiki><siteinfo>` header, streams of a few `<page>`s, a last stream
closing `</mediawiki>`, and the `offset:page_id:title` index beside it.
"""

from __future__ import annotations

import bz2
import logging
from pathlib import Path

import pytest

from r1router.corpus import wiki
from r1router.corpus.multistream import MultistreamWriter, Page, page_xml, write_multistream
from r1router.corpus.shards import MANIFEST, PROGRESS, iter_corpus
from r1router.corpus.wiki import build_wiki_corpus, stream_offsets
from r1router.corpus.wikitext import clean_wikitext
from r1router.corpus.windows import window_passages
from r1router.errors import ConfigError, DataError

SWAMP = """{{Short description|1946 film by Frank Wisbar}}
{{Infobox film
| name = Strangler of the Swamp
| director = [[Frank Wisbar]]
}}
'''''Strangler of the Swamp''''' is a 1946 American [[horror film]], produced by \
[[Producers Releasing Corporation]].<ref name="afi">{{cite web |url=https://catalog.afi.com |title=AFI}}</ref> \
It stars [[Rosemary La Planche|Rosemary LaPlanche]] and [[Blake Edwards]].<!-- check the cast -->

== Plot ==
A ferryman is hanged for a murder he did not commit; his ghost haunts the ''swamp'' &amp; its R&B bar&nbsp;club.
[[File:Swamp still.jpg|thumb|A still [[image]]]]

== Cast ==
* [[Rosemary La Planche]] as Maria
* [[Robert Barrat]] as Christian Sanders

=== Unused ===
== Reception ==
{| class="wikitable"
! Source !! Score
|-
| Critics || 3/5
|}
The [[The New York Times|''Times'']] called it "eerie".<ref>Review.</ref> See [https://example.org the review] \
and [[Star Wars: Episode I]] (unrelated) or [[fr:Le Marais]].

[[Category:1946 films]]
[[Category:American horror films]]
__NOTOC__
"""

SWAMP_BODY = (
    "Strangler of the Swamp is a 1946 American horror film, produced by Producers Releasing Corporation. "
    "It stars Rosemary LaPlanche and Blake Edwards.\n"
    "Plot.\n"
    'A ferryman is hanged for a murder he did not commit; his ghost haunts the "swamp" &amp; its R&amp;B bar\xa0club.\n'
    "Reception.\n"
    'The "Times" called it "eerie". See the review and Star Wars: Episode I (unrelated) or .'
)


def long_article(words: int) -> str:
    """A lead of `words` words with links and a heading in it, as a long article's wikitext."""
    first = " ".join(f"[[word{i}]]" if i % 7 == 0 else f"word{i}" for i in range(words // 2))
    second = " ".join(f"word{i}" for i in range(words // 2, words))
    return f"{{{{Infobox}}}}\n'''Long''' {first}\n\n== History ==\n{second}\n[[Category:Long]]"


# (page id, title, namespace, redirect target, wikitext)
PAGES = [Page(*page) for page in [
    (10, "Strangler of the Swamp", 0, None, SWAMP),
    (11, "Strangler of the swamp", 0, "Strangler of the Swamp", "#REDIRECT [[Strangler of the Swamp]]"),
    (12, "Swamp (disambiguation)", 0, None, "'''Swamp''' may refer to:\n* [[Swamp]], a wetland\n* [[Swamp (film)]]"),
    (13, "List of horror films of 1946", 0, None, "This is a list of '''horror films''' of [[1946]]."),
    (14, "Talk:Strangler of the Swamp", 1, None, "== Cast ==\nIs this right? ~~~~"),
    (15, "Template:Infobox film", 10, None, "{| class=infobox\n| {{{name}}}\n|}"),
    (16, "Swamp stalker", 0, None, "{{Set index article}}\n* [[Swamp Stalker (film)]]\n[[Category:Set indices]]"),
    (17, "Long article", 0, None, long_article(230)),
    (18, "AT&T Swamp", 0, None, "The '''AT&T Swamp''' is a <span>marsh</span> in [[Ohio]].\n:Indented note."),
    (19, "Frank Wisbar", 0, None, "'''Frank Wisbar''' (1899 &ndash; 1967) was a [[German]] film director."),
]]


def write_dump(directory: Path, pages=PAGES, per_stream: int = 3, streams_xml: list[str] | None = None) -> tuple:
    """Write `dump.xml.bz2` and `index.txt.bz2` the way Wikimedia lays out a multistream dump; return both paths.

    `streams_xml` replaces the page streams' XML (for malformed input), one page's index line each.
    """
    dump, index = directory / "enwiki-multistream.xml.bz2", directory / "enwiki-multistream-index.txt.bz2"
    if streams_xml is None:
        return write_multistream(dump, index, pages, per_stream)
    with MultistreamWriter(dump, index) as writer:
        for page, xml in zip(pages, streams_xml, strict=False):
            writer.stream([page], xml)
    return dump, index


def records(out: Path) -> list[dict]:
    return [record for _, _, record in iter_corpus(out)]


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture
def dump(tmp_path) -> tuple[Path, Path]:
    return write_dump(tmp_path)


def test_cleaning_follows_wikiextractor():
    assert clean_wikitext(SWAMP) == SWAMP_BODY
    assert clean_wikitext(PAGES[8].text) == "The AT&amp;T Swamp is a marsh in Ohio.\nIndented note."
    assert clean_wikitext("Einstein: <math>E=mc^2</math>, <code>x</code>.\n#REDIRECT [[X]]") == (
        "Einstein: formula_1, codice_2."
    )


def test_records_ids_and_filters(dump, tmp_path):
    dump_path, index = dump
    manifest = build_wiki_corpus(dump_path, tmp_path / "out", index=index, shard_size=4)
    got = {record["id"]: record for record in records(tmp_path / "out")}
    assert got["wiki-10-0"] == {
        "id": "wiki-10-0",
        "text": f"Strangler of the Swamp\n\n{SWAMP_BODY}",
        "page_id": 10,
        "page_title": "Strangler of the Swamp",
        "window": 0,
    }
    assert got["wiki-11-0"]["text"] == "Strangler of the swamp"  # a redirect: its title, the paper's 1-7 word passages
    assert got["wiki-18-0"]["text"].startswith("AT&amp;T Swamp\n\nThe AT&amp;T Swamp is")
    assert got["wiki-18-0"]["page_title"] == "AT&T Swamp"
    assert got["wiki-19-0"]["text"] == "Frank Wisbar\n\nFrank Wisbar (1899 – 1967) was a German film director."
    long_document = "Long article\n\n" + clean_wikitext(long_article(230))
    long_ids = sorted((r["window"], i) for i, r in got.items() if r["page_id"] == 17)
    assert [got[i]["text"] for _, i in long_ids] == window_passages(long_document)
    assert [i for _, i in long_ids] == [f"wiki-17-{n}" for n in range(4)]  # 234 words: 0, 50, 100 and the last 100
    assert {r["page_id"] for r in got.values()} == {10, 11, 17, 18, 19}
    assert manifest["counts"] == {
        "in": 10,
        "kept": 8,
        "pages.kept": 5,
        "redirects": 1,
        "dropped.namespace": 2,
        "dropped.disambiguation": 1,
        "dropped.list": 1,
        "dropped.empty": 1,
    }
    assert {k: manifest[k] for k in ("pages_in", "pages_kept", "passages", "redirects_kept", "redirects_dropped")} == {
        "pages_in": 10,
        "pages_kept": 5,
        "passages": 8,
        "redirects_kept": 1,
        "redirects_dropped": 0,
    }
    assert manifest["dropped"] == {"disambiguation": 1, "empty": 1, "list": 1, "namespace": 2}
    settings = manifest["settings"]
    assert settings["unit"] == "bz2 stream" and settings["index"]["name"] == index.name
    assert {"dump", "redirects", "window", "stride", "shard_size", "cleaner"} <= set(settings)


def test_redirects_can_be_dropped(dump, tmp_path):
    manifest = build_wiki_corpus(dump[0], tmp_path / "out", index=dump[1], redirects="drop")
    assert "wiki-11-0" not in {r["id"] for r in records(tmp_path / "out")}
    assert manifest["counts"]["redirects"] == manifest["redirects_dropped"] == manifest["dropped"]["redirect"] == 1
    assert manifest["redirects_kept"] == 0 and manifest["passages"] == 7


def test_window_and_stride_are_settings(dump, tmp_path):
    build_wiki_corpus(dump[0], tmp_path / "out", index=dump[1], window=60, stride=30)
    long_texts = [r["text"] for r in records(tmp_path / "out") if r["page_id"] == 17]
    assert len(long_texts) == 7 and all(len(text.split()) == 60 for text in long_texts)


@pytest.mark.parametrize("per_stream", [1, 3, 4])
def test_index_and_scan_give_the_same_records(tmp_path, per_stream):
    dump_path, index = write_dump(tmp_path, per_stream=per_stream)
    build_wiki_corpus(dump_path, tmp_path / "indexed", index=index, shard_size=3)
    build_wiki_corpus(dump_path, tmp_path / "scanned", shard_size=3)
    assert records(tmp_path / "indexed") == records(tmp_path / "scanned")
    assert len(records(tmp_path / "scanned")) == 8


def test_scan_units_are_groups_of_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(wiki, "PAGES_PER_UNIT", 4)
    dump_path, _ = write_dump(tmp_path, per_stream=3)
    units = [(group.unit, group.field, group.xml.count(b"<page>")) for group in wiki.groups_by_scan(dump_path)]
    assert units == [(0, "page#1", 4), (1, "page#5", 4), (2, "page#9", 2)]


GROUP_RECORDS = wiki._group_records


def kill_at_unit(monkeypatch, stop: int | None) -> list[int]:
    """Make the build raise KeyboardInterrupt when it reaches unit `stop`; return the list of units it processes."""
    original = GROUP_RECORDS
    seen: list[int] = []

    def group_records(dump, group, *args):
        if group.unit == stop:
            raise KeyboardInterrupt
        seen.append(group.unit)
        return original(dump, group, *args)

    monkeypatch.setattr(wiki, "_group_records", group_records)
    return seen


@pytest.mark.parametrize("with_index", [True, False])
def test_a_killed_build_resumes_to_the_same_bytes(tmp_path, monkeypatch, with_index):
    monkeypatch.setattr(wiki, "PAGES_PER_UNIT", 2)  # several units without an index too
    dump_path, index = write_dump(tmp_path, per_stream=2)
    index = index if with_index else None
    whole = build_wiki_corpus(dump_path, tmp_path / "whole", index=index, shard_size=2)

    seen = kill_at_unit(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        build_wiki_corpus(dump_path, tmp_path / "killed", index=index, shard_size=2)
    assert seen == [0, 1, 2]
    assert (tmp_path / "killed" / PROGRESS).exists() and not (tmp_path / "killed" / MANIFEST).exists()
    assert any(name.startswith("part-") for name in files(tmp_path / "killed"))

    seen = kill_at_unit(monkeypatch, None)
    resumed = build_wiki_corpus(dump_path, tmp_path / "killed", index=index, shard_size=2)
    assert seen == [1, 2, 3, 4]  # unit 0 is in a shard; units 1 and 2 were not yet (no records, no flush)
    assert resumed == whole
    assert files(tmp_path / "killed") == files(tmp_path / "whole")


def test_a_build_in_progress_refuses_other_settings_or_another_dump(dump, tmp_path, monkeypatch):
    dump_path, index = dump
    kill_at_unit(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        build_wiki_corpus(dump_path, tmp_path / "out", index=index, shard_size=1)
    assert (tmp_path / "out" / PROGRESS).exists()
    monkeypatch.undo()
    with pytest.raises(DataError, match="other input or settings"):
        build_wiki_corpus(dump_path, tmp_path / "out", index=index, shard_size=1, redirects="drop")
    with pytest.raises(DataError, match="other input or settings"):
        build_wiki_corpus(dump_path, tmp_path / "out", shard_size=1)  # the same dump without its index: other units
    (tmp_path / "other").mkdir()
    other_dump, other_index = write_dump(tmp_path / "other", PAGES[:5])
    with pytest.raises(DataError, match="other input or settings"):
        build_wiki_corpus(other_dump, tmp_path / "out", index=other_index, shard_size=1)


def test_bad_settings_are_refused_before_any_work(dump, tmp_path):
    with pytest.raises(ConfigError, match="redirects"):
        build_wiki_corpus(dump[0], tmp_path / "out", redirects="follow")
    with pytest.raises(ConfigError, match="window"):
        build_wiki_corpus(dump[0], tmp_path / "out", window=0)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("with_index", [True, False])
def test_a_corrupt_stream_names_the_file_and_its_offset(tmp_path, with_index):
    dump_path, index = write_dump(tmp_path)
    offsets = stream_offsets(index)
    blob = bytearray(dump_path.read_bytes())
    middle = offsets[1] + (offsets[2] - offsets[1]) // 2
    blob[middle : middle + 8] = b"\x00" * 8
    dump_path.write_bytes(bytes(blob))
    with pytest.raises(DataError) as error:
        build_wiki_corpus(dump_path, tmp_path / "out", index=index if with_index else None)
    assert error.value.path == str(dump_path) and error.value.field == f"stream@{offsets[1]}"
    assert not (tmp_path / "out" / MANIFEST).exists()


@pytest.mark.parametrize("with_index", [True, False])
def test_a_truncated_dump_names_its_last_stream(tmp_path, with_index):
    dump_path, index = write_dump(tmp_path)
    offsets = stream_offsets(index)
    dump_path.write_bytes(dump_path.read_bytes()[: offsets[-1] + 40])
    with pytest.raises(DataError, match="truncated") as error:
        build_wiki_corpus(dump_path, tmp_path / "out", index=index if with_index else None)
    assert error.value.field == f"stream@{offsets[-1]}"


def test_malformed_page_xml_names_the_stream_or_the_page(tmp_path):
    good = page_xml(PAGES[0])
    broken = "  <page>\n    <title>Broken</title>\n    <ns>0</ns>\n    <id>99</id>\n    <revision>\n  </page>\n"
    dump_path, index = write_dump(tmp_path, streams_xml=[good, good.replace("<id>10<", "<id>20<") + broken])
    offsets = stream_offsets(index)
    with pytest.raises(DataError, match="malformed page XML") as error:
        build_wiki_corpus(dump_path, tmp_path / "indexed", index=index)
    assert error.value.path == str(dump_path) and error.value.field == f"stream@{offsets[1]}"
    with pytest.raises(DataError, match="malformed page XML") as error:
        build_wiki_corpus(dump_path, tmp_path / "scanned")
    assert error.value.field == "page#1"  # the unit (pages 1-3) that holds it


@pytest.mark.parametrize(
    ("lines", "line"),
    [("12:10:A\nnot an index line\n", 2), ("12:10:A\n12:x:B\n", 2), ("abc:10:A\n", 1), ("40:10:A\n12:11:B\n", 2)],
)
def test_a_bad_index_line_names_the_index_and_the_line(tmp_path, dump, lines, line):
    bad_index = tmp_path / "bad-index.txt.bz2"
    bad_index.write_bytes(bz2.compress(lines.encode()))
    with pytest.raises(DataError) as error:
        build_wiki_corpus(dump[0], tmp_path / "out", index=bad_index)
    assert error.value.path == str(bad_index) and error.value.line == line


def test_index_titles_may_hold_colons(tmp_path):
    index = tmp_path / "index.txt"
    index.write_text("600:1:Star Wars: Episode I\n600:2:Talk:X\n1200:3:Y\n", encoding="utf-8")
    assert stream_offsets(index) == [600, 1200]


def test_progress_is_logged_with_rate(dump, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="r1router.progress"):
        build_wiki_corpus(dump[0], tmp_path / "out", index=dump[1])
    assert any("wiki corpus" in m and "MiB/s" in m and "done in" in m for m in caplog.messages)

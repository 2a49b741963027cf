"""Wikitext → the plain text wikiextractor 3.0.x writes by default, computed on mwparserfromhell's parse tree.

The paper's text KB is Wikipedia as wikiextractor extracted it, so its rules
are reproduced here (wikiextractor/extract.py: `clean` and `compact`), not
improved on, except where noted. What the released passages confirm is marked ✓.

* templates, parser functions and template arguments are dropped (wikiextractor
  would try to expand them from the dump's Template namespace; most enwiki
  templates call Lua modules it cannot run, hence the released `Hassan II (; 9
  July 1929 …` ✓ where an IPA template was);
* wikilinks become their label, or their target when they have none (a trail,
  `[[cat]]s`, stays attached); links into another namespace or wiki (File:,
  Image:, Category:, fr:, …) are dropped. wikiextractor drops every link whose
  target has a colon; here a colon followed by a space (`[[Star Wars: Episode
  I]]`) is an article title and keeps its text;
* external links become their title text (nothing when they have none); a bare
  URL stays;
* `<ref>`s, comments, tables and the other elements wikiextractor discards
  (`<gallery>`, `<small>`, `<pre>`, …) are dropped with their content; inline
  tags (`<span>`, `<sup>`, `<i>`, …) keep their content; `<math>` and `<code>`
  become `formula_1`, `codice_2`, …; any other tag is left as written ✓
  (`&lt;onlyinclude&gt;`);
* bold quotes are removed, italics become double quotes ✓ (`"Fireside Theatre"`),
  bold italics lose both ✓ (`Corner Stop is a 1948 …`);
* entities are decoded, then `&`, `<` and `>` escaped ✓ (`R&amp;B`);
* a section heading is kept on its own line as `Heading.` ✓ (`Plot.`), but
  only when text follows it before the next heading of its level or above;
* lines starting with `*`, `#` or `;` (list items) are dropped; lines starting
  with `:` (indents) keep their text without the colons, as wikiextractor does;
  table residue (`{`, `|`, `…}`), whole-line parentheticals and lines of only
  dots or dashes are dropped;
* paragraphs are separated by one newline ✓.
"""

from __future__ import annotations

import html
import re

import mwparserfromhell
from mwparserfromhell.nodes import ExternalLink, Heading, HTMLEntity, Tag, Text, Wikilink
from mwparserfromhell.wikicode import Wikicode

# fmt: off
# wikiextractor's discardElements less its ignoredTags (`div` is in both; its tags go first, so its text stays),
# plus the content-less br, hr, nobr.
DROPPED_TAGS = frozenset({
    "gallery", "timeline", "noinclude", "pre", "table", "tr", "td", "th", "caption", "form", "input", "select",
    "option", "textarea", "ul", "li", "ol", "dl", "dt", "dd", "menu", "dir", "ref", "references", "img", "imagemap",
    "source", "small", "br", "hr", "nobr",
})
# wikiextractor's ignoredTags: the tags go, their text stays.
INLINE_TAGS = frozenset({
    "abbr", "b", "big", "blockquote", "center", "cite", "div", "em", "font", "h1", "h2", "h3", "h4", "hiero", "i",
    "kbd", "nowiki", "p", "plaintext", "s", "span", "strike", "strong", "sub", "sup", "tt", "u", "var",
})
# Links into these namespaces (enwiki's, with their aliases; `… talk` too) are not article text.
NAMESPACES = frozenset({
    "media", "special", "talk", "user", "wikipedia", "wp", "project", "file", "image", "mediawiki", "template",
    "help", "category", "portal", "draft", "timedtext", "module", "book",
})
# fmt: on
PLACEHOLDERS = {"math": "formula", "code": "codice"}
INTERWIKI_KEPT = frozenset({"w", "wikt", "wiktionary"})  # wikiextractor's acceptedNamespaces
LIST_MARKUP = frozenset("*#;:")
ITALIC, BOLD = "''", "'''"
HEADING = "\x1e"  # starts a heading line between rendering and compacting; no wikitext holds it
MAGIC_WORDS = re.compile(
    "__(?:NOTOC|FORCETOC|TOC|NEWSECTIONLINK|NONEWSECTIONLINK|NOGALLERY|HIDDENCAT|NOCONTENTCONVERT|NOCC|"
    "NOTITLECONVERT|NOTC|START|END|INDEX|NOINDEX|STATICREDIRECT|DISAMBIG)__"
)


def clean_wikitext(wikitext: str) -> str:
    """An article's body as wikiextractor writes it: paragraphs and headings, one per line."""
    code = mwparserfromhell.parse(wikitext, skip_style_tags=False)
    return "\n".join(_compact(_tidy(_Renderer().render(code))))


def document_text(title: str, body: str) -> str:
    """The document the windows are cut from: the title line, a blank line, the body (wikiextractor's layout).

    The title is escaped like the body: wikiextractor copies it from the dump's
    XML, where `&`, `<` and `>` are entities.
    """
    return f"{html.escape(title, quote=False)}\n\n{body}".strip()


def title_passage(title: str) -> str:
    """A redirect's passage: its title alone, as the released corpus holds them (`Samuel Fain`)."""
    return html.escape(title, quote=False).strip()


class _Renderer:
    """Walks the parse tree once, keeping the per-page `formula_N`/`codice_N` counter."""

    def __init__(self) -> None:
        self._placeholders = 0

    def render(self, code: Wikicode | None) -> str:
        return "" if code is None else "".join(self._node(node) for node in code.nodes)

    def _node(self, node: object) -> str:
        if isinstance(node, Text):
            return node.value
        if isinstance(node, HTMLEntity):
            return node.normalize()
        if isinstance(node, Wikilink):
            return self._wikilink(node)
        if isinstance(node, ExternalLink):
            return self.render(node.title).lstrip() if node.brackets else str(node.url)
        if isinstance(node, Heading):
            return f"{HEADING}{node.level}{self.render(node.title).strip()}"
        if isinstance(node, Tag):
            return self._tag(node)
        return ""  # Template, Argument, Comment: dropped (templates are not expanded)

    def _wikilink(self, node: Wikilink) -> str:
        if _is_namespaced(str(node.title)):
            return ""
        return self.render(node.text).strip() if node.text is not None else self.render(node.title)

    def _tag(self, node: Tag) -> str:
        markup = node.wiki_markup
        if markup in (ITALIC, BOLD):
            return self._style(node)
        if markup is not None and markup[0] in LIST_MARKUP:
            return markup  # kept so that `_compact` sees the list line
        name = str(node.tag).strip().lower()
        if name in DROPPED_TAGS:
            return ""
        if name in INLINE_TAGS:
            return self.render(node.contents)
        if name in PLACEHOLDERS:
            self._placeholders += 1
            return f"{PLACEHOLDERS[name]}_{self._placeholders}"
        attributes = "".join(str(attribute) for attribute in node.attributes)
        if node.self_closing:
            return f"<{name}{attributes}/>"
        return f"<{name}{attributes}>{self.render(node.contents)}</{name}>"

    def _style(self, node: Tag) -> str:
        """Bold goes; italics become quotes, unless bold wraps them (a lead's `'''''Title'''''`) or they are quoted."""
        inner = node.contents.nodes
        other = BOLD if node.wiki_markup == ITALIC else ITALIC
        if len(inner) == 1 and isinstance(inner[0], Tag) and inner[0].wiki_markup == other:
            return self.render(inner[0].contents)
        text = self.render(node.contents)
        if node.wiki_markup == BOLD or (len(text) > 1 and text[0] == text[-1] == '"'):
            return text
        return f'"{text}"'


def _is_namespaced(target: str) -> bool:
    """A link into another namespace or wiki: `File:…`, `:Category:…`, `fr:…`, but not `Star Wars: Episode I`."""
    target = target.strip().lstrip(":")
    prefix, colon, rest = target.partition(":")
    if not colon or not prefix:
        return False
    name = " ".join(prefix.replace("_", " ").split()).lower()
    if name in NAMESPACES or name.removesuffix(" talk") in NAMESPACES:
        return True
    return not rest.startswith(" ") and name not in INTERWIKI_KEPT


def _tidy(text: str) -> str:
    """wikiextractor's character-level cleanup, in its order, ending with the HTML escaping of `&`, `<`, `>`."""
    text = MAGIC_WORDS.sub("", text)
    text = text.replace(BOLD, "").replace(ITALIC, '"')  # residue of unbalanced quotes
    text = text.replace("<<", "«").replace(">>", "»")
    text = re.sub(r" {2,}", " ", text.replace("\t", " "))
    text = re.sub(r"\.{4,}", "...", text)
    text = re.sub(r"\n\W+?\n", "\n", text)  # lines of only punctuation
    text = text.replace(",,", ",").replace(",.", ".")
    return html.escape(text, quote=False)


def _compact(text: str) -> list[str]:
    """wikiextractor's `compact`: keep paragraphs, headings of non-empty sections, indents; drop lists and residue."""
    lines: list[str] = []
    pending: dict[int, str] = {}  # headings whose section has shown no text yet, by level
    for line in text.split("\n"):
        if not line:
            continue
        if line[0] == HEADING:
            level, title = _heading(line)
            pending = {depth: heading for depth, heading in pending.items() if depth < level}
            pending[level] = title
        elif line[0] == ":":
            lines.append(line.lstrip(":"))
        elif not _is_residue(line):
            lines.extend(heading for _, heading in sorted(pending.items()) if heading)
            pending.clear()
            lines.append(line)
    return lines


def _is_residue(line: str) -> bool:
    """A list item, table residue, a whole-line parenthetical or a rule of dots and dashes."""
    return line[0] in "*#;{|" or line[-1] == "}" or (line[0] == "(" and line[-1] == ")") or not line.strip(".-")


def _heading(line: str) -> tuple[int, str]:
    level = int(line[1])
    title = line[2:].strip()
    if title and title[-1] not in "!?":
        title += "."
    return level, title

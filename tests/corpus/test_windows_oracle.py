"""The windowing rules against the paper's released text passages (`ter` hits in the Step-GRPO sample).

The released sub-answer prompts show what the paper's text KB returned. Every
such passage must be a document kept whole (a title-only redirect, or a short
article with its `Title\\n\\n` line) or a 100-word window; windows of one
article that show up together must be cut by `window_passages`.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from r1router.corpus.retrieved import retrieved_passages
from r1router.corpus.windows import window_passages

WINDOW, STRIDE = 100, 50
TITLE_ONLY_MAX_WORDS = 7


def hit_lists(released_sample: Path) -> list[list[str]]:
    """The text-KB passages of every sub-answer step, one list per step."""
    lists = []
    for line in released_sample.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        for step in json.loads(line)["steps"]:
            if step["step_type"] == "ans":
                lists.append([hit.text for hit in retrieved_passages(step["problem"]) if hit.tag == "ter"])
    return lists


@pytest.fixture(scope="module")
def released_hits(released_sample: Path) -> list[list[str]]:
    lists = hit_lists(released_sample)
    assert sum(map(len, lists)) > 100, "the sample should hold hundreds of text passages"
    return lists


def overlap(left: list[str], right: list[str]) -> int:
    """The longest k < len with left's last k words == right's first k words (0 if none)."""
    return next((k for k in range(min(len(left), len(right)) - 1, 0, -1) if left[-k:] == right[:k]), 0)


def test_every_released_passage_is_a_whole_document_or_a_window(released_hits):
    passages = [text for hits in released_hits for text in hits]
    for text in passages:
        words = len(text.split())
        assert 1 <= words <= WINDOW, text[:120]
        if "\n" in text:  # a document kept whole: the title line, a blank line, the body
            title, blank, body = text.partition("\n\n")
            assert blank and "\n" not in title and body.strip(), text[:120]
        elif words < WINDOW:  # no title line: a title-only passage (a redirect)
            assert words <= TITLE_ONLY_MAX_WORDS, text[:120]
        else:  # a window: words joined by single spaces
            assert text == " ".join(text.split()), text[:120]
    title_only = sum(1 for text in passages if "\n" not in text and len(text.split()) <= TITLE_ONLY_MAX_WORDS)
    share = title_only / len(passages)
    print(f"\n1-{TITLE_ONLY_MAX_WORDS}-word title-only passages: {title_only}/{len(passages)} = {share:.0%}")
    assert share > 0.5  # most text hits are redirect titles: `redirects: keep` is the paper's corpus


def test_a_hundred_word_document_is_kept_whole(released_hits):
    """`<=`: a document of exactly `window` words stays one passage, newlines and all (the sample holds one)."""
    whole = [text for hits in released_hits for text in hits if "\n" in text]
    assert any(len(text.split()) == WINDOW for text in whole)
    assert all(window_passages(text) == [text] for text in whole)


def test_released_windows_of_one_article_are_cut_by_window_passages(released_hits):
    """Two released windows where one's tail is the other's head: rebuild the span, cut it, find both.

    Overlaps of exactly the stride are consecutive windows; any other overlap is
    a last window (the final 100 words), which the sample holds.
    """
    windows = sorted({tuple(text.split()) for hits in released_hits for text in hits if "\n" not in text})
    windows = [list(w) for w in windows if len(w) == WINDOW]
    overlaps = []
    for left, right in itertools.permutations(windows, 2):
        k = overlap(left, right)
        if k >= 10:
            cut = window_passages(" ".join(left + right[k:]))
            assert " ".join(left) in cut and " ".join(right) in cut, (k, " ".join(left)[:80])
            overlaps.append(k)
    assert STRIDE in overlaps, "consecutive windows overlap by the stride"
    assert any(k % STRIDE for k in overlaps), "a last window overlaps its neighbour by less or more than the stride"


def test_no_hit_list_repeats_a_passage(released_hits):
    """The paper code's `len % 100 != 0` would copy the last window of a 150-, 250-… word article; none shows up."""
    assert all(len(set(hits)) == len(hits) for hits in released_hits)


@pytest.mark.parametrize(("words", "expected"), [(1000, 19), (1030, 20), (150, 2), (101, 2), (200, 3)])
def test_windows_start_every_stride_and_the_last_ends_on_the_last_word(words, expected):
    text = " ".join(f"w{i}" for i in range(words))
    cut = [passage.split() for passage in window_passages(text, WINDOW, STRIDE)]
    assert len(cut) == expected and all(len(window) == WINDOW for window in cut)
    strided = [window for window in cut if int(window[0][1:]) % STRIDE == 0]
    assert [int(window[0][1:]) for window in strided] == list(range(0, words - WINDOW + 1, STRIDE))
    for left, right in itertools.pairwise(strided):
        assert left[STRIDE:] == right[:STRIDE]  # consecutive windows share `stride` words
    assert cut[-1][-1] == f"w{words - 1}"
    assert len({tuple(window) for window in cut}) == len(cut)


def test_a_short_document_is_one_passage_with_its_newlines():
    document = "Dancing the Sirtaki\n\nDancing the Sirtaki () is a 1966 Greek musical film.\nPlot.\nA dance."
    assert window_passages(document) == [document]

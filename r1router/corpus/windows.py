"""Cut a Wikipedia document into the passages the text KB retrieves: the paper's 100-word windows.

The rules come from the paper's `split_text_with_window` (src/wiki_preprocess.py)
and are checked against the released passages (tests/corpus/test_windows_oracle.py):

* words are whitespace words (`text.split()`);
* a document of `window` words or fewer is one passage, the document text itself,
  newlines included (the released sample holds such passages, `Title\\n\\nBody`,
  one of exactly 100 words among them, so the cut is `<=`, not `<`);
* a longer one becomes windows of `window` words joined by single spaces, starting
  every `stride` words, plus a last window of the final `window` words when the
  strided windows do not already end on the document's last word.

The last rule differs from the paper code's `len(words) % window != 0` only where
that condition adds an exact copy of the last strided window (a length of 150,
250, … words): the copy would be a second id with the same text, taking two of a
query's k hits. The released sample cannot tell the two apart (no hit list in it
holds a passage twice, and its tail windows, overlapping their neighbour by 97
and 71 words, come out of either rule), so the issue's wording "plus a last
window of the final 100 words" decides. The paper code's `title` prefix is not
applied: it passes Python's builtin `id` there, and the released windows carry
no such prefix (a document's first window starts with its title line, as
wikiextractor writes the title as the first line of the text).
"""

from __future__ import annotations


def window_passages(text: str, window: int = 100, stride: int = 50) -> list[str]:
    """The passages of one document, in order; their index in the list is the window number in the id."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be at least 1, got {window} and {stride}")
    words = text.split()
    if len(words) <= window:
        return [text]
    passages = [" ".join(words[start : start + window]) for start in range(0, len(words) - window + 1, stride)]
    if (len(words) - window) % stride != 0:
        passages.append(" ".join(words[-window:]))
    return passages

"""Invented names: unique, pronounceable, and sometimes deliberately confusable.

Names are built from syllables so that no pretrained model can know a fact
about them. A share of every entity type is named as a one-edit variant of an
earlier name of the same type ("Velmora" / "Velmoria", "Tarsen Tower" /
"Tarsen Towers"): those near-twins are the distractors a retriever must tell
apart by more than surface similarity.
"""

from __future__ import annotations

import random

# Single consonants are repeated so that they outweigh clusters: "Velmora", not "Trurraerpei".
ONSETS = (
    "b",
    "d",
    "f",
    "g",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "b",
    "d",
    "k",
    "l",
    "m",
    "n",
    "r",
    "s",
    "t",
    "v",
    "br",
    "dr",
    "gr",
    "kr",
    "tr",
    "st",
    "th",
    "sk",
)
VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ae")
MID_CODAS = ("", "", "", "", "l", "r", "n", "s", "m")
END_CODAS = ("", "n", "r", "l", "s", "k", "th", "sk", "rn", "x", "m", "nd", "vik", "ra", "ma", "na", "ria", "sen")
# Nouns of invented titles; each pluralises with a plain "s", which the near-twin edit relies on.
TITLE_NOUNS = (
    "Orchard",
    "River",
    "Lantern",
    "Harbour",
    "Garden",
    "Mirror",
    "Season",
    "Crown",
    "Shadow",
    "Meadow",
    "Letter",
    "Voyage",
    "Tide",
    "Feather",
    "Island",
    "Kingdom",
)


class NameBank:
    """Hands out names and invented words that were never handed out before (case-insensitively)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._names: set[str] = set()
        self._words: set[str] = set()

    def _syllable(self, last: bool) -> str:
        coda = self.rng.choice(END_CODAS if last else MID_CODAS)
        return self.rng.choice(ONSETS) + self.rng.choice(VOWELS) + coda

    def word(self, syllables: tuple[int, int] = (2, 3), min_len: int = 5) -> str:
        """A fresh capitalised invented word such as "Velmora" or "Dorvik" (the longest syllable count is rarer)."""
        low, high = syllables
        while True:
            count = high if low == high or self.rng.random() < 0.25 else self.rng.randint(low, high - 1)
            text = "".join(self._syllable(i == count - 1) for i in range(count)).capitalize()
            if min_len <= len(text) <= 9 and text.lower() not in self._words:
                self._words.add(text.lower())
                return text

    def claim(self, name: str) -> bool:
        """Reserve `name` if free; the caller retries with another name otherwise."""
        key = name.lower()
        if key in self._names:
            return False
        self._names.add(key)
        return True

    def fresh(self, pattern: str, **parts: str) -> str:
        """A new name from a pattern such as "{w} Tower", filling `{w}` with fresh words until it is unused."""
        while True:
            name = pattern.format(w=self.word(), **parts)
            if self.claim(name):
                return name

    def variant(self, name: str, pattern: str | None = None) -> str | None:
        """An unused name one small edit away from `name`, or None when every edit tried is taken.

        With `pattern` (e.g. "{w} Dome") the twin keeps the first word of `name`
        (edited on retries) but takes its own pattern: "Tarsen Tower" / "Tarsen Dome".
        """
        tokens = name.split(" ")
        for attempt in range(20):
            if pattern is not None:
                candidate = pattern.format(w=tokens[0] if attempt == 0 else self._edit_word(tokens[0]))
            else:
                candidate = " ".join(self._edit_tokens(tokens))
            if self.claim(candidate):
                return candidate
        return None

    def _edit_tokens(self, tokens: list[str]) -> list[str]:
        """Pluralise a noun ("Tower" → "Towers") or edit an invented word of the name."""
        edit = list(tokens)
        nouns = [i for i, token in enumerate(edit) if token in TITLE_NOUNS]
        if nouns and self.rng.random() < 0.4:
            edit[self.rng.choice(nouns)] += "s"
            return edit
        words = [i for i, token in enumerate(edit) if token.lower() in self._words] or [len(edit) - 1]
        i = self.rng.choice(words)
        edit[i] = self._edit_word(edit[i])
        return edit

    def _edit_word(self, word: str) -> str:
        """Velmora → Velmoria, Dorvik → Dorvika, Valcik → Valcek: edits that keep the word recognisable."""
        vowels = [i for i, ch in enumerate(word) if ch in "aeiou" and i > 0]
        if vowels and self.rng.random() < 0.5:
            i = self.rng.choice(vowels)
            return word[:i] + self.rng.choice([v for v in "aeiou" if v != word[i]]) + word[i + 1 :]
        if word.endswith("a") and not word.endswith("ia"):
            return word[:-1] + "ia"
        if word[-1] in "aeiou":
            return word + "n"
        return word + "a"

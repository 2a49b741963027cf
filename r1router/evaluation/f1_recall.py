"""The paper's answer metric, F1-Recall, reproduced rule for rule from the official scorer.

R1-Router (Peng et al., 2025) reports every benchmark as "F1-Recall": normalise the
prediction and each gold VQA-style, tokenise, keep the gold with the best token F1
and report *that* gold's recall. The numbers only line up with the paper's tables
if every quirk of the official scorer is kept, so each rule below names what it
mirrors in OpenBMB/R1-Router `src/evaluate.py` (read through its public mirror
ChloeTT-LAO/Router-Search, which carries the same file), plus the answer extraction
of `src/answer_generation.py:get_answer`. Quirks kept on purpose:

* the VQA period regex `(?!<=\\d)(\\.)(?!\\d)` (a typo for a look-behind, so it strips
  every period not followed by a digit) is applied with `re.UNICODE` passed as the
  *count* argument, i.e. to the first 32 periods only;
* the article list is ['an', 'the'] -- 'a' is kept;
* tokens come from NLTK's `word_tokenize` (Treebank rules: "don't" -> "do", "n't",
  "$5" -> "$", "5"); we port NLTK 3.9.1's `NLTKWordTokenizer` below because no NLTK
  data can be downloaded. `word_tokenize` first splits sentences with Punkt, which
  only matters when more than 32 periods survive the VQA step (never for short answers);
* Chinese is not segmented: the official `compute_acc` is always called with
  lang='en', so its jieba branch is dead code and "北京" is one token;
* token filter `t not in ',.?!:;\\'"'` is a substring test, so e.g. ":" and "'" are dropped;
* InfoSeek ranges are expanded into strings (`expand_range`), and the best gold must
  beat the running best F1 strictly, so the first best gold wins ties.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

# --- VQA normalisation (evaluate.py: contractions, manualMap, articles, punct, processPunctuation,
# --- processDigitArticle, preprocess). The table is the VQA eval's, keys as the official file has them.
_CONTRACTIONS: dict[str, str] = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll",
    "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've",
    "she'dve": "she'd've", "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's",
    "somethingd": "something'd", "somethingd've": "something'd've", "something'dve": "something'd've",
    "somethingll": "something'll", "thats": "that's", "thered": "there'd", "thered've": "there'd've",
    "there'dve": "there'd've", "therere": "there're", "theres": "there's", "theyd": "they'd",
    "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're",
    "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's", "whereve": "where've",
    "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've", "wholl": "who'll", "whos": "who's",
    "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've",
    "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've",
    "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip
_NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
_ARTICLES = frozenset({"an", "the"})  # the paper's list: no 'a'
_PUNCT = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_PERIOD_STRIP_COUNT = int(re.UNICODE)  # the official call passes re.UNICODE (== 32) as sub()'s count
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_DROPPED = ",.?!:;'\""  # evaluate.py process_string_en: `word not in` this string (a substring test)


def _process_punctuation(text: str) -> str:
    """evaluate.py processPunctuation: a mark touching a space (or any "1,000" in the text) vanishes, else -> space."""
    out = text
    digit_comma = _COMMA_STRIP.search(text) is not None
    for mark in _PUNCT:
        if mark + " " in text or " " + mark in text or digit_comma:  # tests the *input*, as the original does
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_STRIP_COUNT)


def _process_digit_article(text: str) -> str:
    """evaluate.py processDigitArticle: lowercase, number words -> digits, drop 'an'/'the', expand contractions."""
    words = [_NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    return " ".join(_CONTRACTIONS.get(word, word) for word in words if word not in _ARTICLES)


def _vqa_normalize(text: object) -> str:
    """evaluate.py preprocess (golds) and the same steps inline in evaluate() (the prediction)."""
    text = str(text).replace("\n", " ").replace("\t", " ").strip()
    return _process_digit_article(_process_punctuation(text))


# --- NLTK 3.9.1 NLTKWordTokenizer.tokenize (Apache-2.0), the tokenizer behind nltk.word_tokenize.
def _rules(*pairs: tuple[str, str]) -> list[tuple[re.Pattern[str], str]]:
    return [(re.compile(pattern), repl) for pattern, repl in pairs]


_TB_STARTING_QUOTES = _rules(
    ("([«“‘„]|[`]+)", r" \1 "),
    (r"^\"", r"``"),
    (r"(``)", r" \1 "),
    (r"([ \(\[{<])(\"|\'{2})", r"\1 `` "),
    (r"(?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b", r"\1 \2"),
)
_TB_PUNCTUATION = _rules(
    (r'([^\.])(\.)([\]\)}>"\'' "»”’ " r"]*)\s*$", r"\1 \2 \3 "),
    (r"([:,])([^\d])", r" \1 \2"),
    (r"([:,])$", r" \1 "),
    (r"\.{2,}", r" \g<0> "),
    (r"[;@#$%&]", r" \g<0> "),
    (r'([^\.])(\.)([\]\)}>"\']*)\s*$', r"\1 \2\3 "),
    (r"[?!]", r" \g<0> "),
    (r"([^'])' ", r"\1 ' "),
    (r"[*]", r" \g<0> "),
    (r"[\]\[\(\)\{\}\<\>]", r" \g<0> "),  # PARENS_BRACKETS
    (r"--", r" -- "),  # DOUBLE_DASHES
)
_TB_ENDING_QUOTES = _rules(
    ("([»”’])", r" \1 "),
    (r"''", " '' "),
    (r'"', " '' "),
    (r"\s+", " "),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
)
_TB_CONTRACTIONS = _rules(
    *[
        (pattern, r" \1 \2 ")
        for pattern in (
            r"(?i)\b(can)(?#X)(not)\b", r"(?i)\b(d)(?#X)('ye)\b", r"(?i)\b(gim)(?#X)(me)\b",
            r"(?i)\b(gon)(?#X)(na)\b", r"(?i)\b(got)(?#X)(ta)\b", r"(?i)\b(lem)(?#X)(me)\b",
            r"(?i)\b(more)(?#X)('n)\b", r"(?i)\b(wan)(?#X)(na)(?=\s)",
            r"(?i) ('t)(?#X)(is)\b", r"(?i) ('t)(?#X)(was)\b",
        )
    ]
)  # fmt: skip


def _word_tokenize(text: str) -> list[str]:
    """nltk.word_tokenize(text, preserve_line=True): Treebank splitting without Punkt's sentence data."""
    for pattern, repl in _TB_STARTING_QUOTES + _TB_PUNCTUATION:
        text = pattern.sub(repl, text)
    text = " " + text + " "
    for pattern, repl in _TB_ENDING_QUOTES + _TB_CONTRACTIONS:
        text = pattern.sub(repl, text)
    return text.split()


# --- The metric.
def answer_tokens(text: object) -> list[str]:
    """The tokens the official scorer compares: preprocess(), then process_string_en()."""
    return list(_cached_tokens(str(text)))


@functools.lru_cache(maxsize=1 << 16)
def _cached_tokens(text: str) -> tuple[str, ...]:
    """Golds repeat across questions and rollouts (yes/no, countries), and normalising is a dozen regex passes."""
    return tuple(token for token in _word_tokenize(_vqa_normalize(text).lower()) if token not in _DROPPED)


def normalize_answer(text: object) -> str:
    """One canonical string per answer (its tokens joined by spaces), for exact match and for debugging."""
    return " ".join(answer_tokens(text))


_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)


def extract_answer(text: str) -> str:
    """answer_generation.py get_answer: the first <answer>...</answer>, stripped; the whole text if there is none.

    The official generator lowercases before matching, hence IGNORECASE; it also insists on a <think> block
    and re-generates without one, which a scorer of saved outputs cannot do, so <think> is not required here.
    """
    match = _ANSWER_TAG.search(text)
    return match.group(1).strip() if match else text


def _prf(gold: Sequence[str], pred: Sequence[str]) -> tuple[float, float, float]:
    """evaluate.py compute_acc_single: SQuAD-style token-multiset precision, recall, F1."""
    same = sum((Counter(gold) & Counter(pred)).values())
    if not gold or not pred or same == 0:
        return 0.0, 0.0, 0.0
    precision, recall = same / len(pred), same / len(gold)
    return precision, recall, 2 * precision * recall / (precision + recall)


def _range_step(lo: float, hi: float) -> float:
    span = hi - lo
    return 1 if span >= 50 else 0.1 if span >= 5 else 0.01 if span >= 1 else 0.001


def expand_range(lo: float, hi: float) -> list[str]:
    """evaluate.py dataset_evaluate (infoseek): the accepted answers of an `answer_eval` range, as strings.

    Values on a grid from lo to hi (step 1, 0.1, 0.01 or 0.001 by the range's width, rounded to 3 decimals),
    then every integer from int(lo) to int(hi). Pass the bounds as read from JSON: int bounds give "1728",
    float bounds "1728.0", exactly as in the official script. Materialises the list: for the metric itself
    `f1_recall` uses `_range_token`, which gives the same answer without building it.
    """
    step = _range_step(lo, hi)
    values = [str(round(value, 3)) for value in np.arange(lo, hi + step, step)]
    return values + [str(value) for value in range(int(lo), int(hi + 1))]


_NUMERIC = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_FAST_RANGE_LIMIT = 1e15  # below this every expanded value prints positionally ("123.4"): one token, no exponent


def _arange_element(lo: float, step: float, stop: float, index: int) -> np.generic:
    """Element `index` of np.arange(lo, stop, step), as a NumPy scalar, without building the array.

    NumPy stores start and start + step, then fills element i >= 2 with start + i * (second - start);
    the dtype is int64 only when all three arguments are ints. `tests/evaluation` checks this against NumPy.
    """
    integer = all(isinstance(value, int) for value in (lo, stop, step))
    dtype = np.int64 if integer else np.float64
    if index <= 1:
        return dtype(lo if index == 0 else lo + step)
    if integer:
        return dtype(lo + index * step)
    start = float(lo)
    return dtype(start + index * (float(lo + step) - start))


def _range_token(lo: float, hi: float, pred: Sequence[str]) -> str | None:
    """A prediction token equal to some `expand_range(lo, hi)` answer, or None -- without expanding the range.

    Every expanded answer is one token (its digits, minus a leading '-'), so any matching token scores
    the same and only whether one exists matters. Valid for |bounds| < 1e15 (see `_range_golds`).
    """
    step = _range_step(lo, hi)
    stop = hi + step
    length = max(0, math.ceil((stop - lo) / step))  # np.arange's length
    int_lo, int_hi = int(lo), int(hi + 1)
    for token in dict.fromkeys(pred):
        if not _NUMERIC.fullmatch(token) or float(token) >= 2 * _FAST_RANGE_LIMIT:
            continue
        if (
            token.isdigit()
            and str(int(token)) == token
            and (int_lo <= int(token) < int_hi or int_lo <= -int(token) < int_hi)
        ):
            return token  # one of the integers range(int(lo), int(hi + 1)), printed with or without its '-'
        for target in (float(token), -float(token)):
            # round(x, 3) == target needs |x - target| <= 0.0005, i.e. an index within one grid step of this one.
            guess = (target - lo) / step
            for index in range(max(0, math.floor(guess) - 3), min(length, math.ceil(guess) + 4)):
                if answer_tokens(str(round(_arange_element(lo, step, stop, index), 3))) == [token]:
                    return token
    return None


def _range_golds(gold_ranges: Iterable[tuple[float, float]], pred: Sequence[str]) -> list[list[str]]:
    """Token lists standing in for each range's expanded answers: the matching one, or all of them."""
    golds = []
    for lo, hi in gold_ranges:
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"range bounds must be finite numbers, got {(lo, hi)!r}")
        if max(abs(lo), abs(hi)) < _FAST_RANGE_LIMIT:
            token = _range_token(lo, hi, pred)
            golds += [[token]] if token is not None else []
        else:  # values print as "1e+16": several tokens each, so score them like any gold (as the official does)
            golds += [answer_tokens(value) for value in expand_range(lo, hi)]
    return golds


def _best_gold(
    prediction: str, golds: Iterable[str], gold_ranges: Iterable[tuple[float, float]]
) -> tuple[float, float, float]:
    """evaluate.py evaluate + compute_acc: (precision, recall, f1) of the first gold with the highest F1."""
    pred = answer_tokens(prediction)
    if not pred:
        return 0.0, 0.0, 0.0
    best = (0.0, 0.0, 0.0)
    for gold in [answer_tokens(gold) for gold in golds] + _range_golds(gold_ranges, pred):
        scores = _prf(gold, pred)
        if scores[2] > best[2]:
            best = scores
    return best


def f1_recall(prediction: str, golds: Sequence[str], gold_ranges: Sequence[tuple[float, float]] = ()) -> float:
    """The paper's F1-Recall of one answer, in [0, 1]: the recall of the gold with the best token F1.

    Pass the answer text itself (`extract_answer` strips <answer> tags; the official scorer reads an
    already-extracted answer). `gold_ranges` are InfoSeek numeric ranges, each scored as its `expand_range`
    answers after `golds`; the official scorer uses *only* the range when a question has one, so pass
    no string golds then.
    """
    return _best_gold(prediction, golds, gold_ranges)[1]


def exact_match(prediction: str, golds: Sequence[str], gold_ranges: Sequence[tuple[float, float]] = ()) -> float:
    """1.0 if the normalised prediction equals a normalised gold (or one answer of a range), else 0.0.

    Not part of the official scorer; a stricter companion number using the same normalisation.
    """
    pred = answer_tokens(prediction)
    if not pred:
        return 0.0
    return float(
        any(gold == pred for gold in [answer_tokens(gold) for gold in golds] + _range_golds(gold_ranges, pred))
    )

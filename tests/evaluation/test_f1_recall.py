"""F1-Recall against hand-worked cases, and score_file on good and bad prediction files.

Every expected value in CASES was worked out by hand from the official rules
(OpenBMB/R1-Router src/evaluate.py): VQA punctuation/number/article/contraction
normalisation, NLTK Treebank tokens, best-F1 gold's recall. The comment after a
case is the working; the rule it exercises is named where the case is a quirk.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from r1router.errors import ConfigError, DataError
from r1router.evaluation import (
    exact_match,
    expand_range,
    extract_answer,
    f1_recall,
    format_score,
    normalize_answer,
    score_file,
)

# The package re-exports functions named like their modules, so fetch the modules themselves.
metric_module = importlib.import_module("r1router.evaluation.f1_recall")
score_module = importlib.import_module("r1router.evaluation.score_file")

# (prediction, golds, gold_ranges, expected F1-Recall). Predictions go through extract_answer first.
CASES = [
    # --- plain matches, case, empty output (evaluate.py dataset_evaluate `output == ''`, compute_acc)
    ("Paris", ["Paris"], [], 1.0),
    ("paris", ["PARIS"], [], 1.0),  # both lowercased
    ("", ["Paris"], [], 0.0),  # empty output scores 0
    ("   \n ", ["Paris"], [], 0.0),  # whitespace only: no tokens
    ("...", ["Paris"], [], 0.0),  # periods not before a digit are stripped: nothing left
    ("London", ["Paris"], [], 0.0),
    ("New\nYork", ["new york"], [], 1.0),  # newline -> space
    # --- long predictions containing the gold: recall ignores extra words
    ("The capital of France is Paris.", ["Paris"], [], 1.0),  # [capital of france is paris] holds [paris]
    ("Barack Hussein Obama II", ["Barack Obama"], [], 1.0),
    ("Paris Paris", ["Paris"], [], 1.0),
    # --- partial overlap (token multisets, as SQuAD F1: evaluate.py compute_acc_single)
    ("Barack Obama", ["Barack Hussein Obama"], [], 2 / 3),  # 2 of 3 gold tokens
    ("Obama", ["Barack Obama"], [], 0.5),
    ("Paris", ["Paris Paris"], [], 0.5),  # gold [paris, paris]; overlap min(2, 1) = 1 of 2
    # --- several golds: the recall of the best-F1 gold, not the best recall (evaluate.py compute_acc)
    # pred [red green blue yellow]: gold "red" P=1/4 R=1 F1=0.4; gold 2: 3 common, P=3/4 R=3/5 F1=0.667 -> 0.6
    ("red green blue yellow", ["red", "red green blue purple orange"], [], 0.6),
    ("red green blue yellow", ["red green blue purple orange", "red"], [], 0.6),  # order does not matter here
    # F1 tie (both exactly 0.5): "x" P=1/3 R=1; "x y q r s" P=2/3 R=2/5. The first gold wins (strict >).
    ("x y z", ["x", "x y q r s"], [], 1.0),
    ("x y z", ["x y q r s", "x"], [], 0.4),
    ("Barack Obama", ["Obama", "Barack Obama"], [], 1.0),  # [barack obama] F1=1 beats [obama] F1=0.667
    # --- articles: 'an' and 'the' dropped, 'a' kept (evaluate.py `articles`, processDigitArticle)
    ("the Eiffel Tower", ["Eiffel Tower"], [], 1.0),
    ("an apple", ["apple"], [], 1.0),
    ("dog", ["the dog"], [], 1.0),
    ("dog", ["a dog"], [], 0.5),  # gold [a, dog]: 'a' stays, 1 of 2
    ("The", ["the"], [], 0.0),  # both normalise to nothing; no prediction tokens -> 0
    # --- number words (evaluate.py manualMap, processDigitArticle: none/zero..ten only)
    ("three", ["3"], [], 1.0),
    ("3", ["three"], [], 1.0),
    ("Three", ["3"], [], 1.0),  # lowercased before the map
    ("none", ["0"], [], 1.0),
    ("zero", ["none"], [], 1.0),  # both -> "0"
    ("ten apples", ["10"], [], 1.0),
    ("There are none.", ["0"], [], 1.0),  # [there are 0]
    ("eleven", ["11"], [], 0.0),  # not in the map
    # --- punctuation (evaluate.py processPunctuation) and Treebank splitting (process_string_en word_tokenize)
    ("Paris!", ["Paris"], [], 1.0),
    ("U.S.A.", ["USA"], [], 1.0),  # periods not followed by a digit vanish
    ("3.5 km", ["3.5"], [], 1.0),  # a period before a digit stays
    ("1,000", ["1000"], [], 1.0),  # "digit,digit" in the text: every mark is deleted, not spaced
    ("1, 000", ["1000"], [], 0.0),  # ", " -> ',' deleted: [1, 000] vs [1000]
    ("Jean-Paul Sartre", ["Jean Paul Sartre"], [], 1.0),  # '-' touching no space -> space
    ("Jean - Paul", ["Jean-Paul"], [], 1.0),  # '-' touching a space is deleted: [jean paul] both
    ("(Paris)", ["Paris"], [], 1.0),
    ("New York: USA", ["New York"], [], 1.0),  # ':' is not VQA punctuation; Treebank splits it off, filter drops it
    ("10:30", ["10 30"], [], 0.0),  # ':' before a digit is not split: one token "10:30"
    ("Lloyd's", ["Lloyd"], [], 1.0),  # Treebank: [lloyd, 's]
    ("Lloyd", ["Lloyd's of London"], [], 0.25),  # gold [lloyd, 's, of, london]
    ("$5", ["5"], [], 1.0),  # [$, 5]
    ("50%", ["50"], [], 1.0),  # [50, %]
    # --- contractions (evaluate.py `contractions` in processDigitArticle, then Treebank splits n't)
    ("dont", ["don't"], [], 1.0),  # dont -> don't -> [do, n't]
    ("isnt", ["is not"], [], 0.5),  # [is, n't] vs [is, not]
    ("cannot", ["can not"], [], 1.0),  # Treebank: cannot -> [can, not]
    ("whats up", ["what's up"], [], 1.0),  # [what, 's, up]
    ("Im", ["I'm"], [], 0.0),  # the map's key is 'Im' but words are lowercased first: [im] vs [i, 'm]
    # --- TabFact yes/no
    ("yes", ["yes"], [], 1.0),
    ("No", ["no"], [], 1.0),
    ("no", ["yes"], [], 0.0),
    ("Yes, it is.", ["yes"], [], 1.0),  # [yes it is]
    # --- <answer> extraction (answer_generation.py get_answer)
    ("<answer>No</answer>", ["no"], [], 1.0),
    ("<think>It is yes</think><answer>no</answer>", ["yes"], [], 0.0),  # only the answer is scored
    ("<answer> Paris </answer> <answer>London</answer>", ["London"], [], 0.0),  # first tag only
    ("<ANSWER>Paris</ANSWER>", ["paris"], [], 1.0),
    ("<answer>unclosed Paris", ["Paris"], [], 1.0),  # no pair: whole text, [answer unclosed paris]
    # --- InfoSeek ranges (expanded to values in evaluate.py dataset_evaluate)
    ("6.6", [], [(6.5, 7.0)], 1.0),  # width 0.5 -> step 0.001 grid holds 6.6
    ("7.5", [], [(6.5, 7.0)], 0.0),  # outside
    ("between 6.6 and 6.8 days", [], [(6.5, 7.0)], 1.0),  # a one-token gold "6.6" is inside the prediction
    ("1.18", [], [(1.062, 1.298)], 1.0),  # 1.062 + 118 * 0.001 rounds to 1.18
    ("About 120 km/h", [], [(108.0, 132.0)], 1.0),  # integers 108..132 are accepted; [about 120 km h]
    ("150", [], [(108.0, 132.0)], 0.0),
    ("1920", [], [(1728.0, 2112.0)], 1.0),  # width 384 -> step 1: "1920.0" on the grid, "1920" as an integer
    ("1920.0", [], [(1728.0, 2112.0)], 1.0),
    ("1920.5", [], [(1728.0, 2112.0)], 0.0),  # inside the range but off the step-1 grid
    ("434", [], [(390.6, 477.40000000000003)], 1.0),  # integers int(390.6)=390 .. int(478.4)-1=477
    ("434.0", [], [(390.6, 477.40000000000003)], 0.0),  # grid is 390.6, 391.6, ...; "434.0" is neither
    ("-5", [], [(-6.0, -4.0)], 1.0),  # '-' becomes a space on both sides: token "5"
    ("5", [], [(-6.0, -4.0)], 1.0),  # ... so the sign is lost
    ("100", [], [(90, 110)], 1.0),  # int bounds, width 20: float grid 90.0..110.0 plus integers 90..110
    ("1000.0", [], [(900, 1100)], 0.0),  # int bounds, width 200: np.arange gives ints "900".."1100", no ".0"
    ("1000.0", [], [(900.0, 1100.0)], 1.0),  # the same range read as floats has "1000.0"
    ("7 days", ["seven days"], [(6.5, 7.0)], 1.0),  # string golds are scored too
    # --- Dyn-VQA: Chinese and English golds; no segmentation (evaluate() calls compute_acc with lang='en')
    ("北京", ["北京"], [], 1.0),
    ("答案是北京", ["北京"], [], 0.0),  # one token "答案是北京"
    ("答案是 北京", ["北京"], [], 1.0),  # [答案是, 北京]
    ("0", ["零", "0", "none"], [], 1.0),
    ("零", ["没有任何", "零"], [], 1.0),
    ("Dawn FM", ["黎明调频", "Dawn FM"], [], 1.0),
    ("120 美元", ["$120 per year"], [], 0.25),  # gold [$, 120, per, year]: 1 of 4
    (
        "莱昂纳多·迪卡普里奥没有任何孩子。",
        ["莱昂纳多·迪卡普里奥没有任何孩子。", "Leonardo DiCaprio has no children."],
        [],
        1.0,
    ),
    ("迪卡普里奥没有任何孩子", ["迪卡普里奥没有任何孩子。"], [], 0.0),  # '。' is not stripped
]


@pytest.mark.parametrize(("prediction", "golds", "ranges", "expected"), CASES)
def test_f1_recall_hand_checked(prediction, golds, ranges, expected):
    assert f1_recall(extract_answer(prediction), golds, ranges) == pytest.approx(expected, abs=1e-12)


def test_table_is_big_enough():
    assert len(CASES) >= 50


@pytest.mark.parametrize(
    ("prediction", "golds", "ranges", "expected"),
    [
        ("The Eiffel Tower!", ["eiffel tower"], [], 1.0),
        ("Eiffel Tower in Paris", ["Eiffel Tower"], [], 0.0),  # recall would be 1, exact match is not
        ("three", ["3", "4"], [], 1.0),
        ("", [""], [], 0.0),
        ("6.6", [], [(6.5, 7.0)], 1.0),
        ("6.6 days", [], [(6.5, 7.0)], 0.0),
    ],
)
def test_exact_match(prediction, golds, ranges, expected):
    assert exact_match(prediction, golds, ranges) == expected


def test_normalize_answer():
    assert normalize_answer("The U.S.A.!") == "usa"
    assert normalize_answer("Don't count: three") == "do n't count 3"
    assert normalize_answer("a dog") == "a dog"


def test_expand_range_mirrors_the_official_grid():
    values = expand_range(6.5, 7.0)
    assert values[:3] == ["6.5", "6.501", "6.502"]
    assert values[-2:] == ["6", "7"]  # then every integer from int(6.5) to int(8.0) - 1
    assert expand_range(900, 1100)[:2] == ["900", "901"]  # int bounds: an int grid
    assert expand_range(900.0, 1100.0)[:2] == ["900.0", "901.0"]


RANGES = [
    (6.5, 7.0), (1.062, 1.298), (108.0, 132.0), (1728.0, 2112.0), (390.6, 477.40000000000003), (-6.0, -4.0),
    (90, 110), (900, 1100), (0, 0.5), (12.0, 13.0), (17.009999999999998, 20.79), (3.6, 4.4), (0.0, 0.0),
    (55.800000000000004, 68.2), (7, 7.9), (-500.5, -430.25), (0.0005, 0.0015), (49, 99), (1305.0, 1595.0000000000002),
]  # fmt: skip


@pytest.mark.parametrize(("lo", "hi"), RANGES)
def test_range_elements_match_numpy(lo, hi):
    """The metric finds range answers by index instead of materialising np.arange; check its arithmetic."""
    step = metric_module._range_step(lo, hi)
    grid = np.arange(lo, hi + step, step)
    for index in range(len(grid)):
        element = metric_module._arange_element(lo, step, hi + step, index)
        assert element == grid[index] and type(element) is type(grid[index])


@pytest.mark.parametrize(("lo", "hi"), RANGES)
def test_range_shortcut_equals_scoring_every_expanded_value(lo, hi):
    values = expand_range(lo, hi)
    probes = set(values[:: max(1, len(values) // 12)]) | {"0", "7", "6.60", "1920.5", "120", "-5", "0.001", "05"}
    for probe in sorted(probes):
        for prediction in (probe, f"about {probe} or {probe} units"):
            assert f1_recall(prediction, [], [(lo, hi)]) == f1_recall(prediction, values), (prediction, lo, hi)
            assert exact_match(prediction, [], [(lo, hi)]) == exact_match(prediction, values)


def test_huge_ranges_do_not_materialise():
    # A population-sized range: 200 million grid values if expanded; the index lookup answers at once.
    assert f1_recall("about 1,400,000,000 people", [], [(1.3e9, 1.5e9)]) == 1.0
    assert f1_recall("1400000000.5", [], [(1.3e9, 1.5e9)]) == 0.0


def test_non_finite_range_is_refused():
    with pytest.raises(ValueError, match="finite"):
        f1_recall("5", [], [(float("nan"), 1.0)])


# --- score_file -------------------------------------------------------------------------------------------


def _write(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records))
    return path


def test_score_file_tabfact(tmp_path):
    path = _write(
        tmp_path / "tabfact.jsonl",
        [
            {"question": "q1", "answer": "yes", "llm_answer": {"thought": "t", "answer": "yes"}},  # 1
            {"question": "q2", "answer": "no", "llm_answer": "<think>maybe</think><answer>yes</answer>"},  # 0
            {"question": "q3", "answer": "no", "llm_answer": "No, it is not."},  # 1 (recall of [no])
        ],
    )
    report = score_file(path, "tabfact")
    assert report.count == 3
    assert report.f1_recall == pytest.approx(2 / 3)
    assert report.exact_match == pytest.approx(1 / 3)
    assert format_score(report).splitlines()[-1] == "F1-Recall: 66.67"
    assert "F1-Recall 95 % bootstrap interval: [0.00, 100.00]" in format_score(report)  # 3 answers: anything


def test_score_file_infoseek_and_dyn_vqa(tmp_path):
    infoseek = _write(
        tmp_path / "infoseek.jsonl",
        [
            # range first: the range alone is the gold; "6.5-7.0" in `answer` is not used
            {"answer": ["6.5-7.0"], "answer_eval": [{"wikidata": 6.75, "range": [6.5, 7.0]}], "llm_answer": "6.8"},
            {"answer": ["Pakistan"], "answer_eval": ["Islamic Republic of Pakistan", "Pakistan"], "llm_answer": "pk"},
            {"answer": ["1920"], "answer_eval": [{"wikidata": 1920.0, "range": [1728.0, 2112.0]}], "llm_answer": ""},
            {"answer_eval": ["Lloyd's of London", "Lloyd's"], "llm_answer": {"answer": "Lloyd"}},  # [lloyd 's]: 0.5
        ],
    )
    report = score_file(infoseek, "infoseek")
    assert report.f1_recalls == (1.0, 0.0, 0.0, 0.5)
    assert format_score(report).splitlines()[-1] == "F1-Recall: 37.50"

    dyn = _write(
        tmp_path / "dyn.jsonl",
        [
            {"answer": ["two", 2, "二"], "llm_answer": "2"},  # bare numbers are golds too (str(2))
            {"answer": ["Rishi Sunak", "苏纳克"], "llm_answer": "Sunak"},  # 1 of 2
            {"answer": ["黎明调频", "Dawn FM"], "llm_answer": "黎明调频"},
        ],
    )
    report = score_file(dyn, "demo_dyn_vqa")  # a demo dataset reads like its paper dataset
    assert report.f1_recalls == (1.0, 0.5, 1.0)
    assert format_score(report).splitlines()[-1] == "F1-Recall: 83.33"


def test_score_file_last_line_rounds_like_the_official_print(tmp_path):
    records = [{"answer": "a b c", "llm_answer": "a"}] * 2 + [{"answer": "x", "llm_answer": "x"}]
    report = score_file(_write(tmp_path / "p.jsonl", records), "openwikitqa")
    assert report.f1_recall == pytest.approx((1 / 3 + 1 / 3 + 1) / 3)
    assert format_score(report).splitlines()[-1] == "F1-Recall: 55.56"  # 55.555... -> 55.56


GOOD = {"answer": "yes", "llm_answer": "yes"}
GOOD_BY_DATASET = {
    "tabfact": GOOD,
    "2wikimultihopqa": {"answer": "1999", "llm_answer": "1999"},
    "webqa": {"answer": ["blue"], "llm_answer": "blue"},
    "dyn_vqa": {"answer": ["two", 2], "llm_answer": "2"},
    "infoseek": {"answer_eval": [{"wikidata": 1, "range": [0.9, 1.1]}], "llm_answer": "1"},
}


@pytest.mark.parametrize(
    ("dataset", "bad", "field"),
    [
        ("tabfact", {"answer": "yes"}, "llm_answer"),
        ("tabfact", {"answer": "yes", "llm_answer": 3}, "llm_answer"),
        ("tabfact", {"answer": "yes", "llm_answer": {"thought": "x"}}, "llm_answer.answer"),
        ("tabfact", {"answer": "yes", "llm_answer": {"answer": None}}, "llm_answer.answer"),
        ("tabfact", {"llm_answer": "yes"}, "answer"),
        ("tabfact", {"answer": ["yes"], "llm_answer": "yes"}, "answer"),
        ("2wikimultihopqa", {"answer": 1999, "llm_answer": "1999"}, "answer"),
        ("webqa", {"answer": "blue", "llm_answer": "blue"}, "answer"),
        ("webqa", {"answer": [], "llm_answer": "blue"}, "answer"),
        ("webqa", {"answer": ["blue", 7], "llm_answer": "blue"}, "answer[1]"),  # numbers only for Dyn-VQA
        ("dyn_vqa", {"answer": ["two", {"x": 1}], "llm_answer": "2"}, "answer[1]"),
        ("infoseek", {"answer": ["x"], "llm_answer": "x"}, "answer_eval"),
        ("infoseek", {"answer_eval": [], "llm_answer": "x"}, "answer_eval"),
        ("infoseek", {"answer_eval": ["x", 5], "llm_answer": "x"}, "answer_eval[1]"),
        ("infoseek", {"answer_eval": [{"wikidata": 1, "range": [1]}], "llm_answer": "1"}, "answer_eval[0].range"),
        ("infoseek", {"answer_eval": [{"wikidata": 1, "range": [2, 1]}], "llm_answer": "1"}, "answer_eval[0].range"),
        ("infoseek", {"answer_eval": [{"wikidata": 1}], "llm_answer": "1"}, "answer_eval[0].range"),
    ],
)
def test_score_file_rejects_bad_records_before_scoring(tmp_path, monkeypatch, dataset, bad, field):
    path = _write(tmp_path / "bad.jsonl", [GOOD_BY_DATASET[dataset], GOOD_BY_DATASET[dataset], bad])

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored before the whole file was validated")

    monkeypatch.setattr(score_module, "f1_recall", no_scoring)
    with pytest.raises(DataError) as caught:
        score_file(path, dataset)
    error = caught.value
    assert error.path == str(path) and error.field == field
    assert error.line == 3
    assert str(path) in str(error) and f"line {error.line}" in str(error) and field in str(error)


def test_score_file_malformed_json_names_the_line(tmp_path):
    path = _write(tmp_path / "p.jsonl", [GOOD, "{not json", GOOD])
    with pytest.raises(DataError, match="line 2"):
        score_file(path, "tabfact")


def test_score_file_empty_and_unknown(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="no predictions"):
        score_file(empty, "tabfact")
    with pytest.raises(ConfigError, match="unknown dataset"):
        score_file(_write(tmp_path / "p.jsonl", [GOOD]), "squad")
    with pytest.raises(DataError, match="not found"):
        score_file(tmp_path / "missing.jsonl", "tabfact")

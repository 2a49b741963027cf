"""Bootstrap intervals and paired tests: seeded, centred on the estimate, and able to tell methods apart."""

import numpy as np
import pytest

from r1router.evaluation.intervals import average_interval, cell_interval, compare, comparison_pairs


def scores(p_right: float, n: int, seed: int) -> list[float]:
    return list(np.random.default_rng(seed).choice([0.0, 100.0], n, p=[1 - p_right, p_right]))


def test_a_cell_interval_holds_its_mean_narrows_with_more_questions_and_is_reproducible():
    few, many = scores(0.6, 10, 1), scores(0.6, 400, 1)
    low, high = cell_interval(few)
    assert low <= np.mean(few) <= high
    assert cell_interval(few) == [low, high]  # seeded
    many_low, many_high = cell_interval(many)
    assert many_high - many_low < (high - low) / 3  # 40x the questions: about 1/6 the width
    assert cell_interval([50.0] * 8) == [50.0, 50.0]


def test_the_average_interval_resamples_each_benchmark_on_its_own():
    by_benchmark = {"a": [100.0] * 20, "b": [0.0] * 20}  # no spread inside a benchmark
    assert average_interval(by_benchmark) == [50.0, 50.0]  # a pooled bootstrap would spread around 50
    mixed = {"a": scores(0.8, 30, 2), "b": scores(0.2, 30, 3)}
    low, high = average_interval(mixed)
    assert low <= (np.mean(mixed["a"]) + np.mean(mixed["b"])) / 2 <= high


def test_paired_comparison_separates_a_real_difference_from_none():
    good = {"a": scores(0.8, 60, 4), "b": scores(0.7, 60, 5)}
    poor = {"a": scores(0.3, 60, 6), "b": scores(0.2, 60, 7)}
    result = compare(good, poor, "good", "poor")
    expected = (np.mean(good["a"]) - np.mean(poor["a"]) + np.mean(good["b"]) - np.mean(poor["b"])) / 2
    assert result["a"] == "good" and result["diff"] == pytest.approx(expected, abs=0.01)
    assert result["p_value"] < 0.01 and result["ci95"][0] > 0
    shuffled = {k: list(np.random.default_rng(8).permutation(v)) for k, v in good.items()}
    same = compare(good, shuffled, "good", "shuffled")  # the same scores, other questions: no real difference
    assert same["diff"] == 0.0 and same["p_value"] > 0.05 and same["ci95"][0] < 0 < same["ci95"][1]
    with pytest.raises(ValueError, match="not scored on the same questions"):
        compare(good, {"a": good["a"]}, "good", "half")


def test_the_pairs_a_reader_asks_about():
    averages = {"direct": 20.0, "rag-text": 30.0, "iterative": 28.0, "prompt-router": 10.0, "sft": 15.0}
    methods = [*averages, "step-grpo"]
    assert comparison_pairs(methods, {**averages, "step-grpo": 25.0}) == [
        ("step-grpo", "sft"),
        ("sft", "prompt-router"),
        ("step-grpo", "rag-text"),
        ("sft", "rag-text"),
    ]
    assert comparison_pairs(["direct", "rag-text"], {"direct": 1.0, "rag-text": 2.0}) == []

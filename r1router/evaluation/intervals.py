"""How sure a Table 1 number is: bootstrap intervals per cell and for the average, paired tests between methods.

With a few dozen questions per benchmark one answer moves a cell by several
points, so every F1-Recall is reported with a 95 % percentile bootstrap
interval over its per-question scores (seeded, `RESAMPLES` resamples), and a
difference between two methods with a paired test over the same questions:
a bootstrap interval of the difference and a sign-flip permutation p-value.

Table 1's Avg. is the mean of the benchmark means, so its interval resamples
each benchmark's questions separately (a stratified bootstrap): the average
keeps its composition of benchmarks in every resample. All statistics come
from `scipy.stats` (`bootstrap`, `permutation_test`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

RESAMPLES = 10_000
SEED = 0
CONFIDENCE = 0.95

Scores = Mapping[str, Sequence[float]]  # benchmark -> per-question F1-Recall (percent), in question order


def _mean_of_means(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean([np.mean(sample, axis=axis) for sample in samples], axis=0)


def _interval(samples: list[np.ndarray]) -> list[float]:
    """Percentile bootstrap interval of the mean of the samples' means; [x, x] when nothing varies."""
    if all(np.ptp(sample) == 0 for sample in samples):  # scipy warns on a degenerate distribution
        value = float(_mean_of_means(*samples))
        return [round(value, 2), round(value, 2)]
    result = stats.bootstrap(
        tuple(samples),
        _mean_of_means,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(SEED),
    )
    return [round(float(result.confidence_interval.low), 2), round(float(result.confidence_interval.high), 2)]


def cell_interval(scores: Sequence[float]) -> list[float]:
    """95 % interval of one benchmark's mean F1-Recall."""
    return _interval([np.asarray(scores, dtype=float)])


def average_interval(scores: Scores) -> list[float]:
    """95 % interval of the mean over benchmarks of their mean F1-Recall (Table 1's Avg.)."""
    return _interval([np.asarray(values, dtype=float) for values in scores.values()])


def compare(a: Scores, b: Scores, name_a: str, name_b: str) -> dict[str, object]:
    """Method a minus method b on Table 1's Avg., paired by question: difference, 95 % interval, p-value.

    Both must have scored the same benchmarks and the same number of questions
    in each (the same questions, in file order). The p-value is two-sided, from
    flipping the sign of each question's difference at random (the null: the
    two methods are exchangeable on every question).
    """
    if set(a) != set(b) or any(len(a[k]) != len(b[k]) for k in a):
        raise ValueError(f"{name_a} and {name_b} were not scored on the same questions")
    diffs = [np.asarray(a[k], dtype=float) - np.asarray(b[k], dtype=float) for k in sorted(a)]
    # Avg. weighs each benchmark's questions by 1 / (benchmarks * its size): one weighted sum of the differences.
    weights = np.concatenate([np.full(len(d), 1.0 / (len(diffs) * len(d))) for d in diffs])
    flat = np.concatenate(diffs)
    diff = float(np.sum(weights * flat))
    if not np.any(flat):
        p_value = 1.0
    else:
        test = stats.permutation_test(
            (flat,),
            lambda d, axis=-1: np.sum(weights * d, axis=axis),
            permutation_type="samples",
            n_resamples=RESAMPLES,
            alternative="two-sided",
            vectorized=True,
            rng=np.random.default_rng(SEED),
        )
        p_value = float(test.pvalue)
    return {"a": name_a, "b": name_b, "diff": round(diff, 2), "ci95": _interval(diffs), "p_value": round(p_value, 4)}


def comparison_pairs(methods: Sequence[str], averages: Mapping[str, float]) -> list[tuple[str, str]]:
    """The differences a reader of Table 1 asks about, among the methods evaluated.

    step-grpo vs sft, sft vs prompt-router, and each trained router vs the
    best fixed baseline (highest Avg. among the methods that do not learn to route).
    """
    trained = [m for m in ("step-grpo", "sft") if m in methods]
    pairs = [(a, b) for a, b in (("step-grpo", "sft"), ("sft", "prompt-router")) if a in methods and b in methods]
    fixed = [m for m in methods if m not in ("step-grpo", "sft", "prompt-router") and m in averages]
    if fixed:
        best = max(fixed, key=lambda m: averages[m])
        pairs += [(router, best) for router in trained]
    return pairs


def evaluation_stats(scores: Mapping[str, Scores], averages: Mapping[str, float]) -> dict[str, object]:
    """`metrics/eval_stats.json`: each method's Avg. with its interval, and the paired comparisons.

    `scores`: method -> benchmark -> per-question F1-Recall; `averages`: Table 1's
    Avg. of the methods evaluated on every benchmark (a partial average has no
    interval: its benchmarks differ from the others').
    """
    avg = {
        method: {"f1_recall": round(averages[method], 2), "f1_recall_ci95": average_interval(scores[method])}
        for method in averages
    }
    pairs = comparison_pairs(list(scores), averages)
    return {"avg": avg, "comparisons": [compare(scores[a], scores[b], a, b) for a, b in pairs]}

"""Evaluation: the paper's F1-Recall answer metric and the scoring of a predictions file."""

from r1router.evaluation.f1_recall import (
    answer_tokens,
    exact_match,
    expand_range,
    extract_answer,
    f1_recall,
    normalize_answer,
)
from r1router.evaluation.score_file import ScoreReport, format_score, read_predictions, score_file

__all__ = [
    "ScoreReport",
    "answer_tokens",
    "exact_match",
    "expand_range",
    "extract_answer",
    "f1_recall",
    "format_score",
    "normalize_answer",
    "read_predictions",
    "score_file",
]

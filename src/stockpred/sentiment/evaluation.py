"""Classification scores for sentiment labels: accuracy and macro-F1, computed in plain Python.

Gold labels from continuous sentiment scores follow one fixed rule, chosen before looking at any
result: the sign of the score (positive > 0, negative < 0, neutral exactly 0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from stockpred.sentiment.base import LABELS, Label, label_from_score

__all__ = ["accuracy", "f1_by_label", "gold_label", "macro_f1", "majority_label"]


def gold_label(score: float) -> Label:
    """The gold label of a continuous score in [-1, 1]: its sign (0 is neutral)."""
    return label_from_score(score)


def _check(gold: Sequence[Label], predicted: Sequence[Label]) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        raise ValueError("no labels to score")


def accuracy(gold: Sequence[Label], predicted: Sequence[Label]) -> float:
    """Share of predictions equal to the gold label."""
    _check(gold, predicted)
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def f1_by_label(gold: Sequence[Label], predicted: Sequence[Label]) -> dict[Label, float]:
    """F1 of each label that occurs in ``gold`` (0 when a label is never predicted right)."""
    _check(gold, predicted)
    pairs = Counter(zip(gold, predicted, strict=True))
    gold_counts, predicted_counts = Counter(gold), Counter(predicted)
    scores: dict[Label, float] = {}
    for label in LABELS:
        if gold_counts[label] == 0:
            continue
        hits = pairs[(label, label)]
        # F1 = 2·TP / (2·TP + FP + FN) = 2·TP / (predicted + gold)
        scores[label] = 2 * hits / (predicted_counts[label] + gold_counts[label])
    return scores


def macro_f1(gold: Sequence[Label], predicted: Sequence[Label]) -> float:
    """Unweighted mean of the F1 of the labels that occur in ``gold``.

    A label that is only predicted, never gold, adds no term of its own, but its predictions still
    cost recall on the labels they should have been.
    """
    scores = f1_by_label(gold, predicted)
    return sum(scores.values()) / len(scores)


def majority_label(gold: Sequence[Label]) -> Label:
    """The most frequent gold label (ties: the first in positive, negative, neutral order)."""
    counts = Counter(gold)
    return max(LABELS, key=lambda label: counts[label])

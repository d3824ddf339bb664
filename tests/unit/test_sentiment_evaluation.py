"""Accuracy, macro-F1 and gold labels for the sentiment benchmark, checked by hand."""

from __future__ import annotations

import pytest

from stockpred.sentiment import SentimentScore
from stockpred.sentiment.base import Label, label_from_score
from stockpred.sentiment.evaluation import (
    accuracy,
    f1_by_label,
    gold_label,
    macro_f1,
    majority_label,
)

GOLD: list[Label] = ["positive", "positive", "positive", "negative", "negative", "neutral"]
PREDICTED: list[Label] = ["positive", "neutral", "negative", "negative", "positive", "neutral"]


def test_accuracy_is_the_share_right() -> None:
    assert accuracy(GOLD, PREDICTED) == pytest.approx(3 / 6)


def test_f1_per_label_by_hand() -> None:
    # positive: TP 1, predicted 2, gold 3 -> 2/5; negative: TP 1, predicted 2, gold 2 -> 2/4;
    # neutral: TP 1, predicted 2, gold 1 -> 2/3.
    assert f1_by_label(GOLD, PREDICTED) == pytest.approx(
        {"positive": 0.4, "negative": 0.5, "neutral": 2 / 3}
    )
    assert macro_f1(GOLD, PREDICTED) == pytest.approx((0.4 + 0.5 + 2 / 3) / 3)


def test_macro_f1_averages_over_the_labels_in_gold_only() -> None:
    gold: list[Label] = ["positive", "negative"]
    predicted: list[Label] = ["neutral", "negative"]

    # positive: 0; negative: 2·1 / (1 + 1) = 1; neutral is not gold, adds no term.
    assert macro_f1(gold, predicted) == pytest.approx(0.5)


def test_majority_baseline_predicts_the_most_frequent_gold_label() -> None:
    assert majority_label(GOLD) == "positive"
    assert majority_label(["neutral", "negative", "neutral"]) == "neutral"


@pytest.mark.parametrize(
    ("score", "label"), [(0.43, "positive"), (-0.001, "negative"), (0.0, "neutral")]
)
def test_gold_label_is_the_sign_of_the_score(score: float, label: str) -> None:
    assert gold_label(score) == label


def test_mismatched_lengths_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        accuracy(["positive", "negative"], ["positive"])


def test_label_from_score_with_a_band_is_neutral_on_the_edge() -> None:
    assert label_from_score(0.05, neutral_band=0.05) == "neutral"
    assert label_from_score(0.0501, neutral_band=0.05) == "positive"


@pytest.mark.parametrize("score", [1.0001, -1.5, float("nan")])
def test_a_sentiment_score_outside_minus_one_to_one_is_refused(score: float) -> None:
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        SentimentScore(score=score, label="neutral")

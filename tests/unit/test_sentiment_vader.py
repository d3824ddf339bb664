"""VADER: the compound score of the shipped lexicon, labelled with VADER's standard thresholds."""

from __future__ import annotations

import math

import pytest

from stockpred.sentiment import VaderScorer, load_vader_scorer
from stockpred.sentiment.vader import vader_label


@pytest.mark.parametrize(
    ("compound", "label"),
    [
        (0.05, "positive"),
        (0.0501, "positive"),
        (0.0499, "neutral"),
        (0.0, "neutral"),
        (-0.0499, "neutral"),
        (-0.05, "negative"),
        (-1.0, "negative"),
        (1.0, "positive"),
    ],
)
def test_labels_use_the_plus_minus_005_thresholds_inclusive(compound: float, label: str) -> None:
    assert vader_label(compound) == label
    assert VaderScorer(compound=lambda _: compound).score(["x"])[0].label == label


def test_single_word_compound_is_its_valence_normalised_with_alpha_15() -> None:
    # vader_lexicon.txt: good 1.9, bad -2.5; compound = v / sqrt(v^2 + 15), rounded to 4 places.
    good, bad = load_vader_scorer().score(["good", "bad"])

    assert good.score == pytest.approx(round(1.9 / math.sqrt(1.9**2 + 15), 4))
    assert good.score == pytest.approx(0.4404)
    assert good.label == "positive"
    assert bad.score == pytest.approx(-0.5423)
    assert bad.label == "negative"


def test_text_without_sentiment_words_is_neutral_zero() -> None:
    [result] = load_vader_scorer().score(["Apple to open store in Paris"])

    assert result.score == 0.0
    assert result.label == "neutral"


def test_vader_scorer_is_named_vader() -> None:
    assert load_vader_scorer().name == "vader"

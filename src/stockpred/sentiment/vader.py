"""VADER (Hutto & Gilbert 2014): a general-purpose lexicon and rules, as a baseline beside LM.

The lexicon ships inside the ``vaderSentiment`` package. The score is VADER's ``compound``
(already in [-1, 1]); the label uses the thresholds VADER's authors recommend: positive when
compound >= 0.05, negative when compound <= -0.05, neutral in between.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stockpred.sentiment.base import Label, SentimentScore

__all__ = ["VADER_THRESHOLD", "VaderScorer", "load_vader_scorer", "vader_label"]

VADER_THRESHOLD = 0.05


def vader_label(compound: float) -> Label:
    """VADER's standard labels: >= 0.05 positive, <= -0.05 negative, otherwise neutral."""
    if compound >= VADER_THRESHOLD:
        return "positive"
    if compound <= -VADER_THRESHOLD:
        return "negative"
    return "neutral"


@dataclass(frozen=True, slots=True)
class VaderScorer:
    """VADER's compound score; ``compound`` maps one text to its compound score."""

    compound: Callable[[str], float]
    name: str = "vader"

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text: VADER's compound score and its standard label."""
        scores = []
        for text in texts:
            # VADER rounds to 4 decimals; clamp guards the [-1, 1] contract against float noise.
            value = min(1.0, max(-1.0, float(self.compound(text))))
            scores.append(SentimentScore(score=value, label=vader_label(value)))
        return scores


def load_vader_scorer() -> VaderScorer:
    """A VADER scorer with the lexicon shipped in ``vaderSentiment``."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def compound(text: str) -> float:
        return float(analyzer.polarity_scores(text)["compound"])

    return VaderScorer(compound=compound)

"""What every sentiment scorer returns, and the one small protocol they share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["LABELS", "Label", "SentimentScore", "SentimentScorer", "label_from_score"]

Label = Literal["positive", "negative", "neutral"]
LABELS: tuple[Label, ...] = ("positive", "negative", "neutral")


@dataclass(frozen=True, slots=True)
class SentimentScore:
    """One text's sentiment: ``score`` in [-1, 1] (negative to positive) and its label."""

    score: float
    label: Label

    def __post_init__(self) -> None:
        if not (math.isfinite(self.score) and -1.0 <= self.score <= 1.0):
            raise ValueError(f"a sentiment score lies in [-1, 1]; got {self.score!r}")
        if self.label not in LABELS:
            raise ValueError(f"a sentiment label is one of {LABELS}; got {self.label!r}")


class SentimentScorer(Protocol):
    """Scores texts; ``name`` is the key under which its scores are reported."""

    @property
    def name(self) -> str: ...

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text, in the order given."""
        ...


def label_from_score(score: float, *, neutral_band: float = 0.0) -> Label:
    """``positive`` above ``neutral_band``, ``negative`` below ``-neutral_band``, else neutral.

    With the default band of 0 the label is the sign of the score. A score exactly on the band
    edge is neutral (VADER's convention is the opposite, see :mod:`stockpred.sentiment.vader`).
    """
    if score > neutral_band:
        return "positive"
    if score < -neutral_band:
        return "negative"
    return "neutral"

"""The scorers in use: Loughran-McDonald and VADER always, the transformer when configured."""

from __future__ import annotations

from pathlib import Path

from stockpred.sentiment.base import SentimentScorer
from stockpred.sentiment.loughran_mcdonald import (
    LoughranMcDonaldScorer,
    load_loughran_mcdonald_lexicon,
)
from stockpred.sentiment.transformer import load_transformer_scorer
from stockpred.sentiment.vader import load_vader_scorer

__all__ = ["build_scorers"]


def build_scorers(*, finbert_model_dir: Path | None = None) -> list[SentimentScorer]:
    """Loughran-McDonald, VADER and, when ``finbert_model_dir`` is set, the transformer.

    The transformer is loaded first so that a misconfigured model directory fails fast.
    """
    transformer = (
        load_transformer_scorer(finbert_model_dir) if finbert_model_dir is not None else None
    )
    scorers: list[SentimentScorer] = [
        LoughranMcDonaldScorer(load_loughran_mcdonald_lexicon()),
        load_vader_scorer(),
    ]
    if transformer is not None:
        scorers.append(transformer)
    return scorers

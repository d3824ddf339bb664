"""The scorers in use: Loughran-McDonald and VADER always, the embedding scorer when its extra
is installed, the transformer when configured."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from stockpred.extras import EXTRAS
from stockpred.sentiment.base import SentimentScorer
from stockpred.sentiment.embedding import load_embedding_scorer
from stockpred.sentiment.loughran_mcdonald import (
    LoughranMcDonaldScorer,
    load_loughran_mcdonald_lexicon,
)
from stockpred.sentiment.transformer import load_transformer_scorer
from stockpred.sentiment.vader import load_vader_scorer

__all__ = ["build_scorers", "embedding_scorer_installed"]


def embedding_scorer_installed() -> bool:
    """True when the ``sentiment`` extra (model package, sentence-transformers, torch) is there.

    Looks the modules up without importing them, so asking costs nothing.
    """
    return all(importlib.util.find_spec(module) is not None for module in EXTRAS["sentiment"])


def build_scorers(
    *, finbert_model_dir: Path | None = None, embedding: bool | None = None
) -> list[SentimentScorer]:
    """Loughran-McDonald, VADER, the embedding scorer and, when ``finbert_model_dir`` is set, the
    transformer.

    ``embedding``: None (default) adds the embedding scorer when the ``sentiment`` extra is
    installed; True requires it (:class:`MissingExtraError` naming the extra when absent); False
    leaves it out. The transformer is loaded first so that a misconfigured model directory fails
    fast.
    """
    transformer = (
        load_transformer_scorer(finbert_model_dir) if finbert_model_dir is not None else None
    )
    scorers: list[SentimentScorer] = [
        LoughranMcDonaldScorer(load_loughran_mcdonald_lexicon()),
        load_vader_scorer(),
    ]
    if embedding or (embedding is None and embedding_scorer_installed()):
        scorers.append(load_embedding_scorer())
    if transformer is not None:
        scorers.append(transformer)
    return scorers

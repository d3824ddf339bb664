"""The Alpha Vantage NEWS_SENTIMENT adapter against a loopback server answering in its JSON.

Alpha Vantage returns up to ``limit`` (1000) items in one answer and has no pages, so the
pagination case does not apply; refusals arrive with HTTP 200 like the daily adapter's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderUnavailableError,
    QuotaExhaustedError,
    UnknownSymbolError,
)
from stockpred.sources.providers.alphavantage_news import AlphaVantageNewsProvider
from stockpred.sources.providers.http import HttpPolicy
from stockpred.sources.providers.newsitems import url_id
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps

PATH = "/query"
KEY = "DEMOKEY0123456789"
NOW = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)


def entry(title: str, url: str, published: str, source: str) -> dict[str, object]:
    return {
        "title": title,
        "url": url,
        "time_published": published,
        "authors": ["Staff"],
        "summary": f"{title}; analysts weigh in.",
        "banner_image": None,
        "source": source,
        "category_within_source": "Markets",
        "source_domain": "www.benzinga.com",
        "topics": [{"topic": "Technology", "relevance_score": "1.0"}],
        "overall_sentiment_score": -0.21,
        "overall_sentiment_label": "Somewhat-Bearish",
        "ticker_sentiment": [
            {
                "ticker": "AAPL",
                "relevance_score": "0.87",
                "ticker_sentiment_score": "-0.25",
                "ticker_sentiment_label": "Somewhat-Bearish",
            }
        ],
    }


def feed(*entries: dict[str, object]) -> str:
    return json.dumps(
        {
            "items": str(len(entries)),
            "sentiment_score_definition": "x <= -0.35: Bearish; -0.35 < x <= -0.15: "
            "Somewhat-Bearish; -0.15 < x < 0.15: Neutral; 0.15 <= x < 0.35: Somewhat_Bullish; "
            "x >= 0.35: Bullish",
            "relevance_score_definition": "0 < x <= 1, with a higher score indicating higher "
            "relevance.",
            "feed": list(entries),
        }
    )


NEWER = entry(
    "Apple iPhone Sales Slump In China",
    "https://www.benzinga.com/news/24/01/36500000/apple-iphone-china",
    "20240105T143000",
    "Benzinga",
)
OLDER = entry(
    "Barclays Downgrades Apple To Underweight",
    "https://www.zacks.com/stock/news/2205000/barclays-apple",
    "20240102T093100",
    "Zacks Commentary",
)
FEED = feed(NEWER, OLDER)
INVALID_INPUTS = json.dumps(
    {
        "Information": "Invalid inputs. Please refer to the API documentation "
        "https://www.alphavantage.co/documentation#newsapi and try again."
    }
)
BAD_KEY = json.dumps(
    {
        "Error Message": "the parameter apikey is invalid or missing. Please claim your free API "
        "key on (https://www.alphavantage.co/support/#api-key). It should take less than 20 "
        "seconds."
    }
)
DAILY_QUOTA = json.dumps(
    {
        "Information": f"We have detected your API key as {KEY} and our standard API rate limit "
        "is 25 requests per day. Please subscribe to any of the premium plans at "
        "https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."
    }
)


@pytest.fixture
def alpha(make_context: ContextFactory, fast_policy: HttpPolicy) -> AlphaVantageNewsProvider:
    return AlphaVantageNewsProvider(
        make_context(api_key=KEY), policy=fast_policy, clock=lambda: NOW
    )


def fetch(provider: AlphaVantageNewsProvider, **bounds: str) -> pd.DataFrame:
    return provider.fetch_news(
        "AAPL",
        tickers=["AAPL"],
        since=pd.Timestamp(bounds["since"], tz="UTC") if "since" in bounds else None,
        until=pd.Timestamp(bounds["until"], tz="UTC") if "until" in bounds else None,
    )


def test_feed_is_parsed_oldest_first_with_new_york_times_in_utc(
    alpha: AlphaVantageNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, FEED))

    items = fetch(alpha)

    assert list(items["source"]) == ["Zacks Commentary", "Benzinga"]
    # 09:31 in New York in January is 14:31 UTC.
    assert items["published_at"].iloc[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")
    assert items["id"].iloc[0] == url_id(str(OLDER["url"]))
    assert items["text"].iloc[0].endswith("analysts weigh in.")
    query = fake_provider.hits[0].query
    assert query["function"] == "NEWS_SENTIMENT"
    assert query["tickers"] == "AAPL"
    assert query["apikey"] == KEY


def test_bounds_are_sent_in_new_york_time_and_filter_the_items(
    alpha: AlphaVantageNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, FEED))

    items = fetch(alpha, since="2024-01-03")

    assert list(items["source"]) == ["Benzinga"]
    assert fake_provider.hits[0].query["time_from"] == "20240102T1900"


def test_second_identical_run_spends_no_quota(
    alpha: AlphaVantageNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, FEED))

    fetch(alpha)
    fetch(alpha)

    assert fake_provider.hits_on(PATH) == 1


def test_unknown_ticker_is_invalid_inputs(
    alpha: AlphaVantageNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, INVALID_INPUTS))

    with pytest.raises(UnknownSymbolError, match="does not know the ticker"):
        fetch(alpha)


def test_missing_key_is_refused_before_any_call(
    make_context: ContextFactory, fake_provider: FakeProvider
) -> None:
    with pytest.raises(ProviderAuthError, match="STOCKPRED_ALPHA_VANTAGE_API_KEY"):
        fetch(AlphaVantageNewsProvider(make_context()))

    assert fake_provider.hits == []


def test_bad_key(alpha: AlphaVantageNewsProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(200, BAD_KEY))

    with pytest.raises(ProviderAuthError, match="refused the API key"):
        fetch(alpha)


def test_daily_quota_has_a_reset_time_hides_the_key_and_is_not_cached(
    alpha: AlphaVantageNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, DAILY_QUOTA), Reply(200, FEED))

    with pytest.raises(QuotaExhaustedError) as caught:
        fetch(alpha)

    assert caught.value.reset_at is not None
    assert caught.value.reset_at.isoformat().startswith("2024-01-09T00:00:00")
    assert KEY not in str(caught.value)
    assert len(fetch(alpha)) == 2


def test_429_retry_after_then_success(
    alpha: AlphaVantageNewsProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(PATH, Reply(429, "", headers={"Retry-After": "12"}), Reply(200, FEED))

    assert len(fetch(alpha)) == 2
    assert sleeps.calls == [12.0]


def test_500_then_success(alpha: AlphaVantageNewsProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(502, "Bad Gateway"), Reply(200, FEED))

    assert len(fetch(alpha)) == 2


def test_timeout_everywhere_is_unavailable(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    alpha = AlphaVantageNewsProvider(make_context(api_key=KEY, timeout_s=0.2), policy=fast_policy)
    fake_provider.script(PATH, Reply(200, FEED, delay_s=0.6))

    with pytest.raises(ProviderUnavailableError, match="timed out"):
        fetch(alpha)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        (json.dumps({"items": "0"}), "has no 'feed' list"),
        (feed({**NEWER, "url": None}), "lacks \\['url'\\]"),
        (feed({**NEWER, "time_published": "2024-01-05 14:30"}), "not YYYYMMDDTHHMMSS"),
    ],
)
def test_malformed_answer_names_what_is_wrong(
    alpha: AlphaVantageNewsProvider, fake_provider: FakeProvider, body: str, message: str
) -> None:
    fake_provider.script(PATH, Reply(200, body))

    with pytest.raises(MalformedResponseError, match=message):
        fetch(alpha)

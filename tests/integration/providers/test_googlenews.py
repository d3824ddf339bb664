"""The Google News adapter against a loopback server answering in Google News RSS 2.0.

Google News RSS needs no key and has no pages (one feed of up to about 100 items per search), so
the missing-key and pagination cases of the other adapters do not apply; nor does Google publish
a quota: throttling arrives as 429/503, which is tested as the quota case. A search that matches
nothing is a valid, empty feed, so the unknown-query case is an empty result.
"""

from __future__ import annotations

import pandas as pd
import pytest

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderUnavailableError,
    QuotaExhaustedError,
)
from stockpred.sources.providers.base import NEWS_ITEM_COLUMNS, NewsProvider
from stockpred.sources.providers.googlenews import GoogleNewsProvider
from stockpred.sources.providers.http import HttpPolicy
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps

PATH = "/rss/search"
RSS = "application/rss+xml; charset=utf-8"


def item(guid: str, title: str, publisher: str, when: str, site: str) -> str:
    link = f"https://news.google.com/rss/articles/{guid}?oc=5"
    return (
        f"<item><title>{title} - {publisher}</title><link>{link}</link>"
        f'<guid isPermaLink="false">{guid}</guid><pubDate>{when}</pubDate>'
        f'<description>&lt;a href="{link}" target="_blank"&gt;{title}&lt;/a&gt;&amp;nbsp;'
        f'&amp;nbsp;&lt;font color="#6f6f6f"&gt;{publisher}&lt;/font&gt;</description>'
        f'<source url="{site}">{publisher}</source></item>'
    )


def feed(query: str, *items: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        f"<generator>NFE/5.0</generator><title>&quot;{query}&quot; - Google News</title>"
        f"<link>https://news.google.com/search?q={query}&amp;hl=en-US&amp;gl=US&amp;ceid=US:en"
        "</link><language>en-US</language><webMaster>news-webmaster@google.com</webMaster>"
        "<copyright>2024 Google Inc.</copyright>"
        "<lastBuildDate>Fri, 05 Jan 2024 15:00:00 GMT</lastBuildDate>"
        "<description>Google News</description>" + "".join(items) + "</channel></rss>"
    )


AAPL = feed(
    "AAPL",
    item(
        "CBMiWmh0dHBzOi8vd3d3LnJldXRlcnMuY29tL2FwcGxl0gEA",
        "Apple shares fall after Barclays downgrade",
        "Reuters",
        "Tue, 02 Jan 2024 14:31:00 GMT",
        "https://www.reuters.com",
    ),
    item(
        "CBMiTGh0dHBzOi8vd3d3LmNuYmMuY29tLzIwMjQvMDEvMDQ",
        "Apple&#39;s iPhone sales slump in China, $AAPL slides",
        "CNBC",
        "Thu, 04 Jan 2024 09:05:00 GMT",
        "https://www.cnbc.com",
    ),
)


@pytest.fixture
def google(make_context: ContextFactory, fast_policy: HttpPolicy) -> GoogleNewsProvider:
    return GoogleNewsProvider(make_context(), policy=fast_policy)


def fetch(provider: GoogleNewsProvider, query: str = "AAPL", **bounds: str) -> pd.DataFrame:
    return provider.fetch_news(
        query,
        tickers=["AAPL"],
        since=pd.Timestamp(bounds["since"], tz="UTC") if "since" in bounds else None,
        until=pd.Timestamp(bounds["until"], tz="UTC") if "until" in bounds else None,
    )


def test_search_feed_is_parsed_into_items_with_publisher_and_utc_time(
    google: GoogleNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, AAPL, content_type=RSS))

    items = fetch(google)

    assert isinstance(google, NewsProvider)
    assert list(items.columns) == list(NEWS_ITEM_COLUMNS)
    assert list(items["title"]) == [
        "Apple shares fall after Barclays downgrade",
        "Apple's iPhone sales slump in China, $AAPL slides",
    ]
    assert list(items["source"]) == ["Reuters", "CNBC"]
    assert items["published_at"].iloc[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")
    assert items["id"].iloc[0] == "CBMiWmh0dHBzOi8vd3d3LnJldXRlcnMuY29tL2FwcGxl0gEA"
    assert items["url"].iloc[0].startswith("https://news.google.com/rss/articles/")
    assert "Apple shares fall" in items["text"].iloc[0]
    assert items["tickers"].iloc[0] == ("AAPL",)
    query = fake_provider.hits[0].query
    assert query == {"q": "AAPL", "hl": "en-US", "gl": "US", "ceid": "US:en"}


def test_bounds_go_into_the_query_and_filter_the_items(
    google: GoogleNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, AAPL, content_type=RSS))

    items = fetch(google, since="2024-01-03", until="2024-01-05")

    assert list(items["source"]) == ["CNBC"]
    assert fake_provider.hits[0].query["q"] == "AAPL after:2024-01-03 before:2024-01-06"


def test_second_identical_search_is_served_from_the_cache(
    google: GoogleNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, AAPL, content_type=RSS))

    fetch(google)
    again = fetch(google)

    assert len(again) == 2
    assert fake_provider.hits_on(PATH) == 1


def test_a_search_matching_nothing_is_an_empty_result(
    google: GoogleNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, feed("zzqqxx"), content_type=RSS))

    items = fetch(google, "zzqqxx")

    assert items.empty
    assert list(items.columns) == list(NEWS_ITEM_COLUMNS)


def test_429_retry_after_then_success(
    google: GoogleNewsProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(
        PATH, Reply(429, "", headers={"Retry-After": "7"}), Reply(200, AAPL, content_type=RSS)
    )

    assert len(fetch(google)) == 2
    assert sleeps.calls == [7.0]


def test_persistent_throttling_is_quota_exhausted(
    google: GoogleNewsProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(429, "<html>unusual traffic</html>", content_type="text/html"))

    with pytest.raises(QuotaExhaustedError, match="googlenews"):
        fetch(google)


def test_500_then_success(google: GoogleNewsProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(
        PATH, Reply(503, "Service Unavailable"), Reply(200, AAPL, content_type=RSS)
    )

    assert len(fetch(google)) == 2


def test_timeout_everywhere_is_unavailable(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    google = GoogleNewsProvider(make_context(timeout_s=0.2), policy=fast_policy)
    fake_provider.script(PATH, Reply(200, AAPL, delay_s=0.6, content_type=RSS))

    with pytest.raises(ProviderUnavailableError, match="timed out"):
        fetch(google)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html><body>Before you continue to Google</body></html>", "not a readable RSS feed"),
        (AAPL[:400], "not a readable RSS feed"),
        (
            feed("AAPL", "<item><title>No date - Reuters</title><link>https://x</link></item>"),
            "lacks \\['pubDate'\\]",
        ),
    ],
)
def test_malformed_feed_names_what_is_wrong_and_is_not_cached(
    google: GoogleNewsProvider, fake_provider: FakeProvider, body: str, message: str
) -> None:
    fake_provider.script(
        PATH, Reply(200, body, content_type=RSS), Reply(200, AAPL, content_type=RSS)
    )

    with pytest.raises(MalformedResponseError, match=message):
        fetch(google)
    if not body.endswith("</rss>"):
        assert len(fetch(google)) == 2

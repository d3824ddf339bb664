"""The NewsAPI adapter against a loopback server answering in NewsAPI's /v2/everything JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExhaustedError,
)
from stockpred.sources.providers.http import HttpPolicy
from stockpred.sources.providers.newsapi import NewsApiProvider
from stockpred.sources.providers.newsitems import url_id
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps

PATH = "/v2/everything"
KEY = "0123456789abcdef0123456789abcdef"


def article(title: str, url: str, when: str, source: str = "Reuters") -> dict[str, object]:
    return {
        "source": {"id": source.lower(), "name": source},
        "author": "Staff",
        "title": title,
        "description": f"{title}.",
        "url": url,
        "urlToImage": None,
        "publishedAt": when,
        "content": f"{title} ... [+2310 chars]",
    }


def page(total: int, *articles: dict[str, object]) -> str:
    return json.dumps({"status": "ok", "totalResults": total, "articles": list(articles)})


def error(code: str, message: str) -> str:
    return json.dumps({"status": "error", "code": code, "message": message})


FIRST = article(
    "Apple shares fall after Barclays downgrade",
    "https://www.reuters.com/technology/apple-barclays-2024-01-02/",
    "2024-01-02T14:31:00Z",
)
SECOND = article(
    "Apple to pay $490 million to settle lawsuit",
    "https://www.cnbc.com/2024/01/04/apple-settlement.html",
    "2024-01-04T09:05:00Z",
    "CNBC",
)
REMOVED = {
    "source": {"id": None, "name": "[Removed]"},
    "author": None,
    "title": "[Removed]",
    "description": "[Removed]",
    "url": "https://removed.com",
    "urlToImage": None,
    "publishedAt": "1970-01-01T00:00:00Z",
    "content": "[Removed]",
}


@pytest.fixture
def newsapi(make_context: ContextFactory, fast_policy: HttpPolicy) -> NewsApiProvider:
    return NewsApiProvider(make_context(api_key=KEY), policy=fast_policy)


def fetch(provider: NewsApiProvider, query: str = "AAPL") -> pd.DataFrame:
    return provider.fetch_news(
        query,
        tickers=["AAPL"],
        since=pd.Timestamp("2024-01-01", tz="UTC"),
        until=pd.Timestamp("2024-01-05", tz="UTC"),
    )


def test_articles_are_parsed_with_the_key_in_a_header_not_the_url(
    newsapi: NewsApiProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, page(2, SECOND, FIRST)))

    items = fetch(newsapi)

    assert list(items["source"]) == ["Reuters", "CNBC"]
    assert items["published_at"].iloc[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")
    assert items["id"].iloc[0] == url_id(str(FIRST["url"]))
    assert "Barclays downgrade." in items["text"].iloc[0]
    query = fake_provider.hits[0].query
    assert query["q"] == "AAPL"
    assert query["from"] == "2024-01-01T00:00:00"
    assert query["to"] == "2024-01-05T00:00:00"
    assert query["page"] == "1"
    assert "apiKey" not in query


def test_pages_are_followed_up_to_total_results(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    newsapi = NewsApiProvider(make_context(api_key=KEY), policy=fast_policy, page_size=1)
    fake_provider.script(PATH, Reply(200, page(2, SECOND)), when={"page": "1"})
    fake_provider.script(PATH, Reply(200, page(2, FIRST)), when={"page": "2"})

    items = fetch(newsapi)

    assert len(items) == 2
    assert [h.query["page"] for h in fake_provider.hits] == ["1", "2"]


def test_developer_plan_result_cap_keeps_the_pages_already_read(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    newsapi = NewsApiProvider(make_context(api_key=KEY), policy=fast_policy, page_size=1)
    fake_provider.script(PATH, Reply(200, page(500, SECOND)), when={"page": "1"})
    fake_provider.script(
        PATH,
        Reply(
            426,
            error(
                "maximumResultsReached",
                "You have requested too many results. Developer accounts are limited to a max "
                "of 100 results.",
            ),
        ),
        when={"page": "2"},
    )

    assert len(fetch(newsapi)) == 1


def test_removed_articles_are_skipped(
    newsapi: NewsApiProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, page(2, FIRST, REMOVED)))

    assert list(fetch(newsapi)["source"]) == ["Reuters"]


def test_second_identical_run_is_served_from_the_cache_which_holds_no_key(
    newsapi: NewsApiProvider, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    fake_provider.script(PATH, Reply(200, page(1, FIRST)))

    fetch(newsapi)
    fetch(newsapi)

    assert fake_provider.hits_on(PATH) == 1
    cache = tmp_path / "http-cache" / "newsapi.sqlite"
    assert cache.exists()
    assert KEY.encode() not in cache.read_bytes()


def test_missing_key_is_refused_before_any_call(
    make_context: ContextFactory, fake_provider: FakeProvider
) -> None:
    with pytest.raises(ProviderAuthError, match="STOCKPRED_NEWSAPI_API_KEY"):
        fetch(NewsApiProvider(make_context()))

    assert fake_provider.hits == []


@pytest.mark.parametrize("code", ["apiKeyInvalid", "apiKeyMissing", "apiKeyDisabled"])
def test_refused_key_never_shows_the_key(
    newsapi: NewsApiProvider, fake_provider: FakeProvider, code: str
) -> None:
    fake_provider.script(
        PATH, Reply(401, error(code, f"Your API key {KEY} is invalid or incorrect."))
    )

    with pytest.raises(ProviderAuthError, match=code) as caught:
        fetch(newsapi)

    assert KEY not in str(caught.value)


def test_invalid_query_is_reported_as_such(
    newsapi: NewsApiProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        PATH,
        Reply(400, error("parameterInvalid", "The q parameter has a syntax error near OR.")),
    )

    with pytest.raises(ProviderError, match="rejected the query 'AAPL OR'"):
        fetch(newsapi, "AAPL OR")


def test_rate_limited_with_retry_after_then_success(
    newsapi: NewsApiProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    limited = error("rateLimited", "You have made too many requests recently.")
    fake_provider.script(
        PATH, Reply(429, limited, headers={"Retry-After": "3"}), Reply(200, page(1, FIRST))
    )

    assert len(fetch(newsapi)) == 1
    assert sleeps.calls == [3.0]


def test_daily_quota_exhausted(newsapi: NewsApiProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(
        PATH,
        Reply(
            429,
            error(
                "apiKeyExhausted",
                "Your API key has exhausted its daily request limit. Developer accounts are "
                "limited to 100 requests over a 24 hour period.",
            ),
        ),
    )

    with pytest.raises(QuotaExhaustedError, match="newsapi"):
        fetch(newsapi)


def test_500_then_success(newsapi: NewsApiProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(
        PATH,
        Reply(
            500,
            error(
                "unexpectedError",
                "This shouldn't happen, and if it does then it's our fault, not yours.",
            ),
        ),
        Reply(200, page(1, FIRST)),
    )

    assert len(fetch(newsapi)) == 1


def test_timeout_everywhere_is_unavailable(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    newsapi = NewsApiProvider(make_context(api_key=KEY, timeout_s=0.2), policy=fast_policy)
    fake_provider.script(PATH, Reply(200, page(1, FIRST), delay_s=0.6))

    with pytest.raises(ProviderUnavailableError, match="timed out"):
        fetch(newsapi)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>gateway</html>", "not JSON"),
        (json.dumps({"status": "ok", "articles": []}), "lacks 'articles'"),
        (page(1, {**FIRST, "publishedAt": None}), "lacks \\['publishedAt'\\]"),
        (page(1, {**FIRST, "publishedAt": "yesterday"}), "not a time"),
    ],
)
def test_malformed_answer_names_what_is_wrong(
    newsapi: NewsApiProvider, fake_provider: FakeProvider, body: str, message: str
) -> None:
    fake_provider.script(PATH, Reply(200, body))

    with pytest.raises(MalformedResponseError, match=message):
        fetch(newsapi)

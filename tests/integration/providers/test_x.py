"""The X adapter against a loopback server answering in X API v2's recent-search JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
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
from stockpred.sources.providers.x import XProvider
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps

PATH = "/2/tweets/search/recent"
TOKEN = "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DEUifiRBkKG5E"
NOW = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"


def post(post_id: str, text: str, when: str, author: str = "2244994945") -> dict[str, object]:
    return {
        "id": post_id,
        "text": text,
        "created_at": when,
        "author_id": author,
        "lang": "en",
        "edit_history_tweet_ids": [post_id],
    }


def search(*posts: dict[str, object], next_token: str | None = None) -> str:
    meta: dict[str, object] = {"result_count": len(posts)}
    if posts:
        meta |= {"newest_id": posts[0]["id"], "oldest_id": posts[-1]["id"]}
    if next_token:
        meta["next_token"] = next_token
    body: dict[str, object] = {"meta": meta}
    if posts:
        body["data"] = list(posts)
        body["includes"] = {
            "users": [{"id": "2244994945", "name": "Reuters Business", "username": "ReutersBiz"}]
        }
    return json.dumps(body)


NEWER = post(
    "1742954412345678901", "$AAPL slides as iPhone sales slump in China", "2024-01-04T09:05:00.000Z"
)
OLDER = post(
    "1742212312345678901", "Barclays downgrades $AAPL to underweight", "2024-01-02T14:31:00.000Z"
)
UNAUTHORIZED = json.dumps(
    {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
)
TOO_MANY = json.dumps(
    {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
)


@pytest.fixture
def x(make_context: ContextFactory, fast_policy: HttpPolicy) -> XProvider:
    return XProvider(make_context(api_key=TOKEN), policy=fast_policy, clock=lambda: NOW)


def fetch(provider: XProvider, query: str = "$AAPL lang:en -is:retweet") -> pd.DataFrame:
    return provider.fetch_news(
        query, tickers=["AAPL"], since=pd.Timestamp("2024-01-01", tz="UTC"), until=None
    )


def test_posts_are_parsed_with_author_link_and_bearer_token(
    x: XProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, search(NEWER, OLDER)))

    items = fetch(x)

    assert list(items["id"]) == ["x:1742212312345678901", "x:1742954412345678901"]
    assert items["published_at"].iloc[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")
    assert items["source"].iloc[0] == "@ReutersBiz"
    assert items["url"].iloc[0] == "https://x.com/ReutersBiz/status/1742212312345678901"
    assert items["title"].iloc[0] == "Barclays downgrades $AAPL to underweight"
    query = fake_provider.hits[0].query
    assert query["query"] == "$AAPL lang:en -is:retweet"
    assert "created_at" in query["tweet.fields"]
    assert query["start_time"] == "2024-01-01T00:00:00Z"
    assert query["max_results"] == "100"


def test_next_token_pages_are_followed(x: XProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(200, search(NEWER, next_token="b26v89c19zqg8o3fo7gghep0")))
    fake_provider.script(
        PATH, Reply(200, search(OLDER)), when={"next_token": "b26v89c19zqg8o3fo7gghep0"}
    )

    items = fetch(x)

    assert len(items) == 2
    assert fake_provider.hits_on(PATH) == 2
    assert "next_token" not in fake_provider.hits[0].query


def test_no_match_is_an_empty_result(x: XProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(200, search()))

    assert fetch(x).empty


def test_second_identical_run_is_served_from_the_cache_which_holds_no_token(
    x: XProvider, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    fake_provider.script(PATH, Reply(200, search(NEWER, OLDER)))

    fetch(x)
    fetch(x)

    assert fake_provider.hits_on(PATH) == 1
    assert TOKEN.encode() not in (tmp_path / "http-cache" / "x.sqlite").read_bytes()


def test_missing_token_is_refused_before_any_call(
    make_context: ContextFactory, fake_provider: FakeProvider
) -> None:
    with pytest.raises(ProviderAuthError, match="STOCKPRED_X_BEARER_TOKEN"):
        fetch(XProvider(make_context()))

    assert fake_provider.hits == []


def test_401_problem_is_a_refused_token(x: XProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(401, UNAUTHORIZED, content_type=PROBLEM))

    with pytest.raises(ProviderAuthError, match="refused the bearer token") as caught:
        fetch(x)

    assert TOKEN not in str(caught.value)


def test_invalid_query_is_reported_with_x_message(
    x: XProvider, fake_provider: FakeProvider
) -> None:
    invalid = {
        "errors": [
            {
                "parameters": {"query": ["$AAPL OR"]},
                "message": "There were errors processing your request: Ambiguous use of or "
                "(at position 7)",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    fake_provider.script(PATH, Reply(400, json.dumps(invalid)))

    with pytest.raises(ProviderError, match="Ambiguous use of or"):
        fetch(x, "$AAPL OR")


def test_429_waits_until_x_rate_limit_reset_then_succeeds(
    x: XProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    reset = str(int(NOW.timestamp()) + 42)
    fake_provider.script(
        PATH,
        Reply(429, TOO_MANY, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}),
        Reply(200, search(NEWER)),
    )

    assert len(fetch(x)) == 1
    assert sleeps.calls == [42.0]


def test_429_with_retry_after_then_success(
    x: XProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(
        PATH, Reply(429, TOO_MANY, headers={"Retry-After": "5"}), Reply(200, search(NEWER))
    )

    assert len(fetch(x)) == 1
    assert sleeps.calls == [5.0]


def test_429_that_outlasts_the_retries_says_when_capacity_returns(
    x: XProvider, fake_provider: FakeProvider
) -> None:
    reset = str(int(NOW.timestamp()) + 900)
    fake_provider.script(PATH, Reply(429, TOO_MANY, headers={"x-rate-limit-reset": reset}))

    with pytest.raises(QuotaExhaustedError) as caught:
        fetch(x)

    assert caught.value.reset_at == datetime(2024, 1, 5, 15, 15, tzinfo=UTC)


def test_monthly_usage_cap_is_quota_exhausted(x: XProvider, fake_provider: FakeProvider) -> None:
    capped = {
        "title": "UsageCapExceeded",
        "detail": "Usage cap exceeded: Monthly product cap",
        "type": "https://api.twitter.com/2/problems/usage-capped",
        "period": "Monthly",
        "scope": "Product",
    }
    fake_provider.script(PATH, Reply(403, json.dumps(capped), content_type=PROBLEM))

    with pytest.raises(QuotaExhaustedError, match="usage cap"):
        fetch(x)


def test_500_then_success(x: XProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(
        PATH,
        Reply(503, json.dumps({"title": "Service Unavailable", "status": 503})),
        Reply(200, search(NEWER)),
    )

    assert len(fetch(x)) == 1


def test_timeout_everywhere_is_unavailable(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    x = XProvider(make_context(api_key=TOKEN, timeout_s=0.2), policy=fast_policy)
    fake_provider.script(PATH, Reply(200, search(NEWER), delay_s=0.6))

    with pytest.raises(ProviderUnavailableError, match="timed out"):
        fetch(x)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        (json.dumps({"data": []}), "lacks 'meta'"),
        (search({**NEWER, "created_at": None}), "lacks \\['created_at'\\]"),
        (search({**NEWER, "created_at": "soon"}), "not a time"),
    ],
)
def test_malformed_answer_names_what_is_wrong(
    x: XProvider, fake_provider: FakeProvider, body: str, message: str
) -> None:
    fake_provider.script(PATH, Reply(200, body))

    with pytest.raises(MalformedResponseError, match=message):
        fetch(x)

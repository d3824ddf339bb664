"""The FRED adapter against a loopback server answering in FRED's JSON, vintages included."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderUnavailableError,
    QuotaExhaustedError,
    UnknownSymbolError,
)
from stockpred.sources.providers.fred import FredProvider
from stockpred.sources.providers.http import HttpPolicy
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps

PATH = "/fred/series/observations"
KEY = "0123456789abcdef0123456789abcdef"


def observations(
    rows: list[tuple[str, str, str, str]], *, count: int | None = None, offset: int = 0
) -> str:
    """A FRED answer: rows of (realtime_start, realtime_end, date, value)."""
    return json.dumps(
        {
            "realtime_start": "1776-07-04",
            "realtime_end": "9999-12-31",
            "observation_start": "1600-01-01",
            "observation_end": "9999-12-31",
            "units": "lin",
            "output_type": 1,
            "file_type": "json",
            "order_by": "observation_date",
            "sort_order": "asc",
            "count": len(rows) if count is None else count,
            "offset": offset,
            "limit": 100000,
            "observations": [
                {"realtime_start": a, "realtime_end": b, "date": d, "value": v}
                for a, b, d, v in rows
            ],
        }
    )


# GDP-like series with a revision: 2023-Q1 first published 2023-04-27, revised 2023-05-25.
VINTAGES = [
    ("2023-04-27", "2023-05-24", "2023-01-01", "26465.865"),
    ("2023-05-25", "9999-12-31", "2023-01-01", "26486.287"),
    ("2023-07-27", "9999-12-31", "2023-04-01", "26835.999"),
    ("2023-10-26", "9999-12-31", "2023-07-01", "."),
]


def error(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"error_code": status, "error_message": message}))


@pytest.fixture
def fred(make_context: ContextFactory, fast_policy: HttpPolicy) -> FredProvider:
    return FredProvider(make_context(api_key=KEY), policy=fast_policy)


def test_revision_yields_both_vintages_with_their_release_days(
    fred: FredProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, observations(VINTAGES)))

    points = fred.fetch_series("gdp", start=None, end=None)

    q1 = points[points["period"] == pd.Timestamp("2023-01-01").date()]
    assert list(q1["value"]) == [26465.865, 26486.287]
    # Known by the end of the day FRED says it was published (New York), never earlier.
    assert list(q1["released_at"]) == [
        pd.Timestamp("2023-04-28 03:59:59", tz="UTC"),
        pd.Timestamp("2023-05-26 03:59:59", tz="UTC"),
    ]
    assert len(points) == 3  # the "." (no value) row is left out
    assert set(points["series_id"]) == {"GDP"}
    sent = fake_provider.hits[0].query
    assert sent["realtime_start"] == "1776-07-04"
    assert sent["realtime_end"] == "9999-12-31"
    assert sent["api_key"] == KEY


def test_pages_are_followed_until_count(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    fred = FredProvider(make_context(api_key=KEY), policy=fast_policy, page_size=2)
    fake_provider.script(
        PATH,
        Reply(200, observations(VINTAGES[:2], count=4, offset=0)),
        Reply(200, observations(VINTAGES[2:], count=4, offset=2)),
    )

    points = fred.fetch_series("GDP", start=None, end=None)

    assert len(points) == 3
    assert [h.query["offset"] for h in fake_provider.hits] == ["0", "2"]
    assert all(h.query["limit"] == "2" for h in fake_provider.hits)


def test_second_identical_run_is_served_from_cache_and_spends_no_quota(
    fred: FredProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, observations(VINTAGES)))

    fred.fetch_series("GDP", start=None, end=None)
    fred.fetch_series("GDP", start=None, end=None)

    assert fake_provider.hits_on(PATH) == 1


def test_cache_is_shared_across_runs_and_keys_are_not_stored_in_it(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    fake_provider.script(PATH, Reply(200, observations(VINTAGES)))
    FredProvider(make_context(api_key=KEY), policy=fast_policy).fetch_series(
        "GDP", start=None, end=None
    )

    # A new process with another key: same question, same cached answer.
    FredProvider(make_context(api_key="another-key"), policy=fast_policy).fetch_series(
        "GDP", start=None, end=None
    )

    assert fake_provider.hits_on(PATH) == 1
    stored = b"".join(p.read_bytes() for p in make_context.cache_dir.glob("*.sqlite"))
    assert KEY.encode() not in stored


def test_unknown_series_is_a_clear_error(fred: FredProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, error(400, "Bad Request.  The series does not exist."))

    with pytest.raises(UnknownSymbolError, match="fred has no series 'NOPE'"):
        fred.fetch_series("NOPE", start=None, end=None)


def test_missing_key_is_refused_before_any_call(
    make_context: ContextFactory, fake_provider: FakeProvider
) -> None:
    with pytest.raises(ProviderAuthError, match="STOCKPRED_FRED_API_KEY"):
        FredProvider(make_context(api_key=None)).fetch_series("GDP", start=None, end=None)

    assert fake_provider.hits == []


def test_bad_key_is_an_auth_error_that_never_shows_the_key(
    fred: FredProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        PATH,
        error(
            400,
            "Bad Request.  The value for variable api_key is not registered.  Read "
            "https://fred.stlouisfed.org/docs/api/api_key.html for more information.",
        ),
    )

    with pytest.raises(ProviderAuthError) as caught:
        fred.fetch_series("GDP", start=None, end=None)

    assert "not registered" in str(caught.value)
    assert KEY not in str(caught.value)


def test_rate_limit_429_with_retry_after_then_success(
    fred: FredProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(
        PATH,
        Reply(
            429,
            json.dumps({"error_code": 429, "error_message": "Too Many Requests."}),
            headers={"Retry-After": "3"},
        ),
        Reply(200, observations(VINTAGES)),
    )

    points = fred.fetch_series("GDP", start=None, end=None)

    assert len(points) == 3
    assert sleeps.calls == [3.0]


def test_quota_exhausted_after_retries(fred: FredProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(
        PATH,
        Reply(
            429,
            json.dumps({"error_code": 429, "error_message": "Too Many Requests."}),
            headers={"Retry-After": "60"},
        ),
    )

    with pytest.raises(QuotaExhaustedError) as caught:
        fred.fetch_series("GDP", start=None, end=None)

    assert caught.value.reset_at is not None


def test_server_error_then_success(fred: FredProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(
        PATH, Reply(500, "Internal Server Error"), Reply(200, observations(VINTAGES))
    )

    assert len(fred.fetch_series("GDP", start=None, end=None)) == 3


def test_timeouts_on_every_try_make_the_provider_unavailable(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    fred = FredProvider(make_context(api_key=KEY, timeout_s=0.2), policy=fast_policy)
    fake_provider.script(PATH, Reply(200, observations(VINTAGES), delay_s=0.6))

    with pytest.raises(ProviderUnavailableError, match="timed out"):
        fred.fetch_series("GDP", start=None, end=None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("<html>maintenance</html>", "not JSON"),
        (json.dumps({"count": 1}), "'observations'"),
        (
            json.dumps({"count": 1, "observations": [{"date": "2023-01-01", "value": "1"}]}),
            "'realtime_start'",
        ),
        (observations([("2023-04-27", "9999-12-31", "2023-01-01", "n/a")]), "non-numeric"),
    ],
)
def test_malformed_answer_names_what_is_wrong(
    fred: FredProvider, fake_provider: FakeProvider, body: str, field: Any
) -> None:
    fake_provider.script(PATH, Reply(200, body))

    with pytest.raises(MalformedResponseError, match=field):
        fred.fetch_series("GDP", start=None, end=None)


def test_malformed_answer_is_not_cached(fred: FredProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(
        PATH, Reply(200, "<html>maintenance</html>"), Reply(200, observations(VINTAGES))
    )
    with pytest.raises(MalformedResponseError):
        fred.fetch_series("GDP", start=None, end=None)

    points = fred.fetch_series("GDP", start=None, end=None)

    assert len(points) == 3
    assert fake_provider.hits_on(PATH) == 2

"""The Stooq adapter against a loopback server answering in Stooq's CSV format."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderUnavailableError,
    QuotaExhaustedError,
    UnknownSymbolError,
)
from stockpred.sources.providers.http import HttpPolicy
from stockpred.sources.providers.stooq import StooqProvider
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps

PATH = "/q/d/l/"
# In Stooq's layout (AAPL, early January 2020, split-adjusted as Stooq serves it).
CSV = """Date,Open,High,Low,Close,Volume
2020-01-02,74.06,75.15,73.7975,75.0875,135480400
2020-01-03,74.2875,75.145,74.125,74.3575,146322800
2020-01-06,73.4475,74.99,73.1875,74.95,118387200
"""
START, END = pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-31")


def ok(body: str = CSV) -> Reply:
    return Reply(200, body, content_type="text/csv")


@pytest.fixture
def stooq(make_context: ContextFactory, fast_policy: HttpPolicy) -> StooqProvider:
    return StooqProvider(make_context(), policy=fast_policy)


def test_daily_bars_are_parsed_with_symbol_and_dates_sent(
    stooq: StooqProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, ok())

    bars = stooq.fetch_bars("AAPL", start=START, end=END)

    assert list(bars["date"]) == ["2020-01-02", "2020-01-03", "2020-01-06"]
    assert bars["close"].iloc[-1] == pytest.approx(74.95)
    assert set(bars["ticker"]) == {"AAPL"}
    assert fake_provider.hits[0].query == {
        "s": "aapl.us",
        "i": "d",
        "d1": "20200101",
        "d2": "20200131",
    }


def test_second_identical_call_is_served_from_the_cache(
    stooq: StooqProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, ok())

    first = stooq.fetch_bars("AAPL", start=START, end=END)
    second = stooq.fetch_bars("AAPL", start=START, end=END)

    pd.testing.assert_frame_equal(first, second)
    assert fake_provider.hits_on(PATH) == 1


def test_unknown_symbol_is_a_clear_error(stooq: StooqProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, ok("No data"))

    with pytest.raises(UnknownSymbolError, match=r"stooq has no data for 'NOPE'"):
        stooq.fetch_bars("NOPE", start=START, end=END)


def test_daily_hits_limit_is_quota_exhausted(
    stooq: StooqProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, ok("Exceeded the daily hits limit"))

    with pytest.raises(QuotaExhaustedError, match="daily hits limit"):
        stooq.fetch_bars("AAPL", start=START, end=END)


def test_malformed_csv_names_the_missing_field(
    stooq: StooqProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, ok("Date,Open,High\n2020-01-02,1,2\n"))

    with pytest.raises(MalformedResponseError, match=r"lacks the field\(s\) \['Low', 'Close'\]"):
        stooq.fetch_bars("AAPL", start=START, end=END)


def test_server_error_then_success_is_retried(
    stooq: StooqProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(PATH, Reply(500, "oops"), Reply(503, "busy"), ok())

    bars = stooq.fetch_bars("AAPL", start=START, end=END)

    assert len(bars) == 3
    assert fake_provider.hits_on(PATH) == 3
    assert len(sleeps.calls) == 2


def test_429_waits_exactly_the_retry_after_the_server_asks(
    stooq: StooqProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(PATH, Reply(429, "slow down", headers={"Retry-After": "7"}), ok())

    stooq.fetch_bars("AAPL", start=START, end=END)

    assert sleeps.calls == [7.0]


def test_429_that_outlasts_the_retries_is_quota_exhausted_with_a_reset_time(
    stooq: StooqProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(429, "slow down", headers={"Retry-After": "30"}))

    with pytest.raises(QuotaExhaustedError) as caught:
        stooq.fetch_bars("AAPL", start=START, end=END)

    assert caught.value.reset_at is not None
    assert "expects capacity back" in str(caught.value)


def test_timeout_then_success_is_retried(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    stooq = StooqProvider(make_context(timeout_s=0.2), policy=fast_policy)
    fake_provider.script(PATH, Reply(200, CSV, delay_s=1.0), ok())

    bars = stooq.fetch_bars("AAPL", start=START, end=END)

    assert len(bars) == 3


def test_provider_that_keeps_failing_is_marked_down_and_not_called_again(
    stooq: StooqProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(500, "down"))

    # Three failed calls in a row (the third trips the breaker as it fails).
    for _ in range(3):
        with pytest.raises(ProviderUnavailableError):
            stooq.fetch_bars("AAPL", start=START, end=END)
    calls = fake_provider.hits_on(PATH)
    with pytest.raises(ProviderUnavailableError, match="marked down"):
        stooq.fetch_bars("MSFT", start=START, end=END)

    assert fake_provider.hits_on(PATH) == calls


def test_unknown_symbols_do_not_trip_the_breaker(
    stooq: StooqProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, ok("No data"))
    for _ in range(5):
        with pytest.raises(UnknownSymbolError):
            stooq.fetch_bars("NOPE", start=START, end=END)
    fake_provider.script(PATH, ok())

    assert len(stooq.fetch_bars("AAPL", start=START, end=END)) == 3


def test_rate_limit_spaces_network_calls_but_not_cached_ones(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    # Stooq's own limit: one request a second.
    stooq = StooqProvider(make_context(rate_limit=None), policy=fast_policy)
    fake_provider.script(PATH, ok())
    started = time.monotonic()

    stooq.fetch_bars("AAPL", start=START, end=END)
    stooq.fetch_bars("MSFT", start=START, end=END)
    stooq.fetch_bars("IBM", start=START, end=END)
    networked = time.monotonic() - started
    started = time.monotonic()
    for _ in range(5):
        stooq.fetch_bars("AAPL", start=START, end=END)
    cached = time.monotonic() - started

    assert networked >= 1.9  # three calls at 1/s: two waits of about a second
    assert cached < 1.0
    assert fake_provider.hits_on(PATH) == 3


def test_refusal_is_not_cached(stooq: StooqProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, ok("Exceeded the daily hits limit"), ok())
    with pytest.raises(QuotaExhaustedError):
        stooq.fetch_bars("AAPL", start=START, end=END)

    assert len(stooq.fetch_bars("AAPL", start=START, end=END)) == 3

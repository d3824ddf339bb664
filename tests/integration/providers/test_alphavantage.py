"""The Alpha Vantage adapter against a loopback server answering in Alpha Vantage's JSON."""

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
from stockpred.sources.providers.alphavantage import AlphaVantageProvider
from stockpred.sources.providers.http import HttpPolicy
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps

PATH = "/query"
KEY = "DEMOKEY0123456789"
NOW = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)


def day(values: str) -> dict[str, str]:
    """ "open high low close adjusted volume" as Alpha Vantage's numbered fields."""
    o, h, low, c, adj, v = values.split()
    return {
        "1. open": o,
        "2. high": h,
        "3. low": low,
        "4. close": c,
        "5. adjusted close": adj,
        "6. volume": v,
        "7. dividend amount": "0.0000",
        "8. split coefficient": "1.0",
    }


# IBM, first days of 2024, newest first as Alpha Vantage sends them.
DAILY = json.dumps(
    {
        "Meta Data": {
            "1. Information": "Daily Time Series with Splits and Dividend Events",
            "2. Symbol": "IBM",
            "3. Last Refreshed": "2024-01-05",
            "4. Output Size": "Full size",
            "5. Time Zone": "US/Eastern",
        },
        "Time Series (Daily)": {
            "2024-01-05": day("160.8 162.05 160.5 160.97 156.2 3765000"),
            "2024-01-04": day("161.0 161.8 160.02 161.1 156.33 4076000"),
            "2024-01-03": day("161.0 161.73 160.08 160.1 155.36 4086000"),
            "2024-01-02": day("162.83 163.29 160.5 161.5 156.72 4250000"),
        },
    }
)
INVALID_CALL = json.dumps(
    {
        "Error Message": "Invalid API call. Please retry or visit the documentation "
        "(https://www.alphavantage.co/documentation/) for TIME_SERIES_DAILY_ADJUSTED."
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
        "Information": "We have detected your API key as DEMOKEY0123456789 and our standard API "
        "rate limit is 25 requests per day. Please subscribe to any of the premium plans at "
        "https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."
    }
)


@pytest.fixture
def alpha(make_context: ContextFactory, fast_policy: HttpPolicy) -> AlphaVantageProvider:
    return AlphaVantageProvider(make_context(api_key=KEY), policy=fast_policy, clock=lambda: NOW)


def test_daily_adjusted_is_parsed_oldest_first_with_the_adjusted_close(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, DAILY))

    bars = alpha.fetch_bars("IBM", start=None, end=None)

    assert list(bars["date"]) == ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    assert list(bars["adj_close"]) == ["156.72", "155.36", "156.33", "156.2"]
    query = fake_provider.hits[0].query
    assert query["function"] == "TIME_SERIES_DAILY_ADJUSTED"
    assert query["outputsize"] == "full"


def test_recent_start_asks_for_the_compact_series_and_filters_the_range(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, DAILY))

    bars = alpha.fetch_bars("IBM", start=pd.Timestamp("2024-01-03"), end=pd.Timestamp("2024-01-04"))

    assert list(bars["date"]) == ["2024-01-03", "2024-01-04"]
    assert fake_provider.hits[0].query["outputsize"] == "compact"


def test_repeated_run_spends_no_quota(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, DAILY))

    alpha.fetch_bars("IBM", start=None, end=None)
    alpha.fetch_bars("IBM", start=None, end=None)

    assert fake_provider.hits_on(PATH) == 1


def test_unknown_symbol(alpha: AlphaVantageProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(200, INVALID_CALL))

    with pytest.raises(UnknownSymbolError, match="does not know 'NOPE'"):
        alpha.fetch_bars("NOPE", start=None, end=None)


def test_missing_key_is_refused_before_any_call(
    make_context: ContextFactory, fake_provider: FakeProvider
) -> None:
    with pytest.raises(ProviderAuthError, match="STOCKPRED_ALPHA_VANTAGE_API_KEY"):
        AlphaVantageProvider(make_context()).fetch_bars("IBM", start=None, end=None)

    assert fake_provider.hits == []


def test_bad_key(alpha: AlphaVantageProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(200, BAD_KEY))

    with pytest.raises(ProviderAuthError, match="refused the API key"):
        alpha.fetch_bars("IBM", start=None, end=None)


def test_daily_quota_is_exhausted_with_the_reset_time_and_is_not_cached(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, DAILY_QUOTA), Reply(200, DAILY))

    with pytest.raises(QuotaExhaustedError) as caught:
        alpha.fetch_bars("IBM", start=None, end=None)

    assert caught.value.reset_at is not None
    assert caught.value.reset_at.isoformat().startswith("2024-01-09T00:00:00")
    assert KEY not in str(caught.value)
    assert len(alpha.fetch_bars("IBM", start=None, end=None)) == 4


def test_429_retry_after_then_success(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(PATH, Reply(429, "", headers={"Retry-After": "12"}), Reply(200, DAILY))

    assert len(alpha.fetch_bars("IBM", start=None, end=None)) == 4
    assert sleeps.calls == [12.0]


def test_500_then_success(alpha: AlphaVantageProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(502, "Bad Gateway"), Reply(200, DAILY))

    assert len(alpha.fetch_bars("IBM", start=None, end=None)) == 4


def test_timeout_everywhere_is_unavailable(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    alpha = AlphaVantageProvider(make_context(api_key=KEY, timeout_s=0.2), policy=fast_policy)
    fake_provider.script(PATH, Reply(200, DAILY, delay_s=0.6))

    with pytest.raises(ProviderUnavailableError, match="timed out"):
        alpha.fetch_bars("IBM", start=None, end=None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        (json.dumps({"Meta Data": {}}), "no 'Time Series \\(Daily\\)'"),
        (
            json.dumps({"Time Series (Daily)": {"2024-01-02": {"1. open": "1"}}}),
            "lacks the field",
        ),
    ],
)
def test_malformed_answer_names_what_is_wrong(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider, body: str, message: str
) -> None:
    fake_provider.script(PATH, Reply(200, body))

    with pytest.raises(MalformedResponseError, match=message):
        alpha.fetch_bars("IBM", start=None, end=None)


# -- GLOBAL_QUOTE and TIME_SERIES_INTRADAY -----------------------------------------------------

QUOTE = json.dumps(
    {
        "Global Quote": {
            "01. symbol": "IBM",
            "02. open": "160.8000",
            "03. high": "162.0500",
            "04. low": "160.5000",
            "05. price": "160.9700",
            "06. volume": "3765000",
            "07. latest trading day": "2024-01-05",
            "08. previous close": "161.1000",
            "09. change": "-0.1300",
            "10. change percent": "-0.0807%",
        }
    }
)
INTRADAY = json.dumps(
    {
        "Meta Data": {
            "1. Information": "Intraday (5min) open, high, low, close prices and volume",
            "2. Symbol": "IBM",
            "3. Last Refreshed": "2024-01-05 19:55:00",
            "4. Interval": "5min",
            "5. Output Size": "Full size",
            "6. Time Zone": "US/Eastern",
        },
        "Time Series (5min)": {
            "2024-01-05 16:05:00": {
                "1. open": "160.9700",
                "2. high": "161.0000",
                "3. low": "160.9000",
                "4. close": "160.9500",
                "5. volume": "2300",
            },
            "2024-01-05 16:00:00": {
                "1. open": "160.9000",
                "2. high": "161.0500",
                "3. low": "160.8500",
                "4. close": "160.9700",
                "5. volume": "412000",
            },
        },
    }
)


def test_global_quote_is_parsed_and_cached_for_a_minute(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, QUOTE))

    quote = alpha.fetch_quote("IBM")
    alpha.fetch_quote("IBM")

    assert quote["price"] == "160.9700"
    assert quote["latest_trading_day"] == "2024-01-05"
    assert fake_provider.hits[0].query["function"] == "GLOBAL_QUOTE"
    assert fake_provider.hits_on(PATH) == 1


def test_empty_global_quote_is_an_unknown_symbol(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, json.dumps({"Global Quote": {}})))

    with pytest.raises(UnknownSymbolError, match="no quote for 'NOPE'"):
        alpha.fetch_quote("NOPE")


def test_intraday_bars_are_converted_from_new_york_time_to_utc_oldest_first(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, INTRADAY))

    bars = alpha.fetch_intraday("IBM", interval="5min")

    assert list(bars["ts"]) == [
        pd.Timestamp("2024-01-05 21:00", tz="UTC"),
        pd.Timestamp("2024-01-05 21:05", tz="UTC"),
    ]
    assert list(bars["volume"]) == [412000.0, 2300.0]
    assert fake_provider.hits[0].query["interval"] == "5min"


def test_a_compact_regular_hours_intraday_call_is_cached_apart_from_the_full_one(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, INTRADAY))

    alpha.fetch_intraday("IBM", interval="5min", outputsize="compact", extended_hours=False)
    alpha.fetch_intraday("IBM", interval="5min", outputsize="compact", extended_hours=False)
    alpha.fetch_intraday("IBM", interval="5min")

    compact, full = fake_provider.hits
    assert (compact.query["outputsize"], compact.query["extended_hours"]) == ("compact", "false")
    assert full.query["outputsize"] == "full"
    assert "extended_hours" not in full.query
    assert alpha.info.endpoints_ttl["intraday_recent"] == 20.0


def test_intraday_quota_message_is_quota_exhausted(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, DAILY_QUOTA))

    with pytest.raises(QuotaExhaustedError):
        alpha.fetch_intraday("IBM")


def test_intraday_interval_is_checked_before_any_call(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    with pytest.raises(ValueError, match="interval must be one of"):
        alpha.fetch_intraday("IBM", interval="2min")

    assert fake_provider.hits == []


def test_intraday_bar_missing_a_field_is_malformed(
    alpha: AlphaVantageProvider, fake_provider: FakeProvider
) -> None:
    body = json.dumps({"Time Series (5min)": {"2024-01-05 16:00:00": {"1. open": "1"}}})
    fake_provider.script(PATH, Reply(200, body))

    with pytest.raises(MalformedResponseError, match="lacks fields"):
        alpha.fetch_intraday("IBM")


def test_daily_quota_is_kept_on_disk_across_runs_and_shared_with_the_news_adapter(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    from stockpred.sources.providers.alphavantage_news import AlphaVantageNewsProvider
    from stockpred.sources.providers.base import RateLimit

    fake_provider.script(PATH, Reply(200, DAILY))
    quota = RateLimit(requests=10, seconds=1, per_day=2)
    policy = HttpPolicy(attempts=1, quota_wait_max_s=1.0)
    first_run = AlphaVantageProvider(make_context(api_key=KEY, rate_limit=quota), policy=policy)
    first_run.fetch_bars("IBM", start=None, end=None)
    # A later process, and the news adapter of the same account, see the same spent quota.
    second_run = AlphaVantageProvider(make_context(api_key=KEY, rate_limit=quota), policy=policy)
    second_run.fetch_bars("MSFT", start=None, end=None)
    news = AlphaVantageNewsProvider(make_context(api_key=KEY, rate_limit=quota), policy=policy)

    with pytest.raises(QuotaExhaustedError, match="local quota"):
        news.fetch_news("AAPL", tickers=["AAPL"], since=None, until=None)

    assert fake_provider.hits_on(PATH) == 2

"""The Yahoo Finance adapter against a loopback server answering in Yahoo's chart JSON.

Yahoo's chart endpoint has no key, no published quota and no pagination (one answer holds the whole
asked range), so the key and paging cases are replaced by what applies: the range in one request,
and a 429 that outlasts the retries.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExhaustedError,
    UnknownSymbolError,
)
from stockpred.sources.providers.http import HttpPolicy
from stockpred.sources.providers.yahoo import YahooProvider
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps
from support.intraday import price, yahoo_chart

PATH = "/v8/finance/chart/AAPL"
NOW = datetime(2020, 1, 8, 22, 0, tzinfo=UTC)
# 09:30 New York on 2, 3, 6 and 7 January 2020; 1 January (a holiday) padded with nulls.
STAMPS = [1577889000, 1577975400, 1578061800, 1578321000, 1578407400]


def chart(
    *,
    stamps: list[int] | None = STAMPS,
    closes: list[float | None] | None = None,
    adjclose: bool = True,
) -> str:
    closes = closes or [None, 75.0875, 74.3575, 74.95, 74.5975]
    count = len(stamps or [])
    result: dict[str, object] = {
        "meta": {
            "currency": "USD",
            "symbol": "AAPL",
            "exchangeName": "NMS",
            "instrumentType": "EQUITY",
            "firstTradeDate": 345479400,
            "gmtoffset": -18000,
            "timezone": "EST",
            "exchangeTimezoneName": "America/New_York",
            "dataGranularity": "1d",
            "range": "",
        },
        "indicators": {"quote": [{}]},
    }
    if stamps is not None:
        nulls = [None]
        result["timestamp"] = stamps
        quote = {
            "open": [*nulls, 74.06, 74.2875, 73.4475, 74.96],
            "high": [*nulls, 75.15, 75.145, 74.99, 75.225],
            "low": [*nulls, 73.7975, 74.125, 73.1875, 74.37],
            "close": closes,
            "volume": [*nulls, 135480400, 146322800, 118387200, 108872000],
        }
        indicators: dict[str, object] = {"quote": [{k: v[:count] for k, v in quote.items()}]}
        if adjclose:
            adjusted = [None, 73.0596, 72.3493, 72.9253, 72.5829]
            indicators["adjclose"] = [{"adjclose": adjusted[:count]}]
        result["indicators"] = indicators
    return json.dumps({"chart": {"result": [result], "error": None}})


NOT_FOUND = Reply(
    404,
    json.dumps(
        {
            "chart": {
                "result": None,
                "error": {
                    "code": "Not Found",
                    "description": "No data found, symbol may be delisted",
                },
            }
        }
    ),
)


@pytest.fixture
def yahoo(make_context: ContextFactory, fast_policy: HttpPolicy) -> YahooProvider:
    return YahooProvider(make_context(), policy=fast_policy, clock=lambda: NOW)


def test_daily_bars_are_dated_in_the_exchanges_time_zone(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, chart()))

    bars = yahoo.fetch_bars("aapl", start=pd.Timestamp("2020-01-01"), end=None)

    assert list(bars["date"]) == ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]
    assert list(bars["close"]) == [75.0875, 74.3575, 74.95, 74.5975]
    assert list(bars["adj_close"]) == [73.0596, 72.3493, 72.9253, 72.5829]
    assert set(bars["ticker"]) == {"AAPL"}
    sent = fake_provider.hits[0].query
    assert sent["interval"] == "1d"
    assert sent["period1"] == "1577836800"  # 2020-01-01 00:00 UTC
    assert sent["period2"] == "1578528000"  # the next UTC midnight after NOW


def test_the_whole_range_comes_in_one_request(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, chart()))

    bars = yahoo.fetch_bars(
        "AAPL", start=pd.Timestamp("1980-12-12"), end=pd.Timestamp("2020-01-07")
    )

    assert len(bars) == 4
    assert fake_provider.hits_on(PATH) == 1
    assert fake_provider.hits[0].query["period2"] == "1578441600"  # end day inclusive


def test_without_a_range_the_full_history_is_asked(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, chart(adjclose=False)))

    bars = yahoo.fetch_bars("AAPL", start=None, end=None)

    assert fake_provider.hits[0].query["range"] == "max"
    assert list(bars["adj_close"]) == list(bars["close"])


def test_a_range_without_sessions_is_empty(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, chart(stamps=None)))

    bars = yahoo.fetch_bars(
        "AAPL", start=pd.Timestamp("2020-01-04"), end=pd.Timestamp("2020-01-05")
    )

    assert bars.empty


def test_second_identical_run_is_served_from_cache(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, chart()))

    yahoo.fetch_bars("AAPL", start=pd.Timestamp("2020-01-01"), end=None)
    yahoo.fetch_bars("AAPL", start=pd.Timestamp("2020-01-01"), end=None)

    assert fake_provider.hits_on(PATH) == 1


def test_unknown_symbol(yahoo: YahooProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script("/v8/finance/chart/NOPE", NOT_FOUND)

    with pytest.raises(UnknownSymbolError, match="symbol may be delisted"):
        yahoo.fetch_bars("NOPE", start=None, end=None)


def test_other_chart_errors_say_what_yahoo_said(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        PATH,
        Reply(
            400,
            json.dumps(
                {
                    "chart": {
                        "result": None,
                        "error": {
                            "code": "Bad Request",
                            "description": "Invalid input - interval=1x is not supported.",
                        },
                    }
                }
            ),
        ),
    )

    with pytest.raises(ProviderError, match="Bad Request: Invalid input"):
        yahoo.fetch_bars("AAPL", start=None, end=None)


def test_429_with_retry_after_then_success(
    yahoo: YahooProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(
        PATH,
        Reply(
            429, "Too Many Requests\r\n", headers={"Retry-After": "5"}, content_type="text/plain"
        ),
        Reply(200, chart()),
    )

    assert len(yahoo.fetch_bars("AAPL", start=None, end=None)) == 4
    assert sleeps.calls == [5.0]


def test_429_that_outlasts_the_retries_is_quota_exhausted(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(429, "Too Many Requests\r\n", content_type="text/plain"))

    with pytest.raises(QuotaExhaustedError, match="rate limit"):
        yahoo.fetch_bars("AAPL", start=None, end=None)


def test_server_error_then_success(yahoo: YahooProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(500, "Internal Server Error"), Reply(200, chart()))

    assert len(yahoo.fetch_bars("AAPL", start=None, end=None)) == 4


def test_timeouts_on_every_try_make_the_provider_unavailable(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    yahoo = YahooProvider(make_context(timeout_s=0.2), policy=fast_policy)
    fake_provider.script(PATH, Reply(200, chart(), delay_s=0.6))

    with pytest.raises(ProviderUnavailableError, match="timed out"):
        yahoo.fetch_bars("AAPL", start=None, end=None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("<html>Will be right back</html>", "not JSON"),
        (json.dumps({"finance": {}}), "'chart'"),
        (json.dumps({"chart": {"result": [], "error": None}}), r"'chart.result\[0\]'"),
        (chart().replace("America/New_York", "Mars/Olympus"), "exchangeTimezoneName"),
        (chart(closes=[1.0]), "1 values of 'close' for 5 timestamps"),
        (chart().replace('"close"', '"last"'), r"'indicators.quote\[0\].close'"),
    ],
)
def test_malformed_answer_names_what_is_wrong(
    yahoo: YahooProvider, fake_provider: FakeProvider, body: str, field: str
) -> None:
    fake_provider.script(PATH, Reply(200, body))

    with pytest.raises(MalformedResponseError, match=field):
        yahoo.fetch_bars("AAPL", start=None, end=None)


def test_malformed_answer_is_not_cached(yahoo: YahooProvider, fake_provider: FakeProvider) -> None:
    fake_provider.script(PATH, Reply(200, "<html>Will be right back</html>"), Reply(200, chart()))
    with pytest.raises(MalformedResponseError):
        yahoo.fetch_bars("AAPL", start=None, end=None)

    assert len(yahoo.fetch_bars("AAPL", start=None, end=None)) == 4
    assert fake_provider.hits_on(PATH) == 2


def test_intraday_bars_are_stamped_at_their_start_in_utc_without_the_empty_minutes(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    start = datetime(2020, 1, 7, 14, 30, tzinfo=UTC)
    starts = [start, None, start + timedelta(minutes=2)]
    fake_provider.script(PATH, Reply(200, yahoo_chart("AAPL", starts)))

    bars = yahoo.fetch_intraday("aapl", interval="1m", window="1d")

    assert list(bars["ts"]) == [pd.Timestamp(start), pd.Timestamp(start + timedelta(minutes=2))]
    assert list(bars["close"]) == [price(start), price(start + timedelta(minutes=2))]
    assert set(bars["ticker"]) == {"AAPL"}
    sent = fake_provider.hits[0].query
    assert (sent["interval"], sent["range"], sent["includePrePost"]) == ("1m", "1d", "false")


def test_intraday_is_cached_for_twenty_seconds_only(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    starts = [datetime(2020, 1, 7, 14, 30, tzinfo=UTC)]
    fake_provider.script(PATH, Reply(200, yahoo_chart("AAPL", starts)))

    yahoo.fetch_intraday("AAPL")
    yahoo.fetch_intraday("AAPL")

    assert fake_provider.hits_on(PATH) == 1
    assert YahooProvider.info.endpoints_ttl["intraday"] == 20.0


def test_intraday_interval_and_window_are_checked_before_any_call(
    yahoo: YahooProvider, fake_provider: FakeProvider
) -> None:
    with pytest.raises(ValueError, match="interval must be one of"):
        yahoo.fetch_intraday("AAPL", interval="1min")
    with pytest.raises(ValueError, match="window must be one of"):
        yahoo.fetch_intraday("AAPL", window="max")

    assert fake_provider.hits == []

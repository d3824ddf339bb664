"""The Nasdaq Data Link adapter against a loopback server answering in its Tables and
time-series JSON, with its ``quandl_error`` refusals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderUnavailableError,
    QuotaExhaustedError,
    UnknownSymbolError,
)
from stockpred.sources.providers.http import HttpPolicy
from stockpred.sources.providers.nasdaqdatalink import NasdaqDataLinkProvider
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps

TABLE = "/api/v3/datatables/QUOTEMEDIA/PRICES.json"
DATASET = "/api/v3/datasets/WIKI/AAPL/data.json"
KEY = "nasdaq-key-0123456789"

COLUMNS = [
    {"name": "ticker", "type": "String"},
    {"name": "date", "type": "Date"},
    {"name": "open", "type": "BigDecimal(34,12)"},
    {"name": "high", "type": "BigDecimal(34,12)"},
    {"name": "low", "type": "BigDecimal(34,12)"},
    {"name": "close", "type": "BigDecimal(34,12)"},
    {"name": "volume", "type": "BigDecimal(37,15)"},
    {"name": "adj_close", "type": "BigDecimal(34,12)"},
]
ROWS = [
    ["AAPL", "2020-01-02", 296.24, 300.6, 295.19, 300.35, 33911864.0, 74.5731],
    ["AAPL", "2020-01-03", 297.15, 300.58, 296.5, 297.43, 36633878.0, 73.8481],
    ["AAPL", "2020-01-06", 293.79, 299.96, 292.75, 299.8, 29644644.0, 74.4366],
]


def table(rows: list[list[object]], *, cursor: str | None = None) -> str:
    """A Tables API answer: ``datatable`` with data and columns, ``meta.next_cursor_id``."""
    return json.dumps(
        {"datatable": {"data": rows, "columns": COLUMNS}, "meta": {"next_cursor_id": cursor}}
    )


# WIKI/AAPL as the time-series API sends it: newest first unless order=asc.
WIKI = json.dumps(
    {
        "dataset_data": {
            "limit": None,
            "transform": None,
            "column_index": None,
            "column_names": [
                "Date", "Open", "High", "Low", "Close", "Volume", "Ex-Dividend", "Split Ratio",
                "Adj. Open", "Adj. High", "Adj. Low", "Adj. Close", "Adj. Volume",
            ],
            "start_date": "2018-03-26",
            "end_date": "2018-03-27",
            "frequency": "daily",
            "data": [
                ["2018-03-27", 173.68, 175.15, 166.92, 168.34, 38962839.0, 0.0, 1.0,
                 173.68, 175.15, 166.92, 168.34, 38962839.0],
                ["2018-03-26", 168.07, 173.1, 166.44, 172.77, 36272617.0, 0.0, 1.0,
                 168.07, 173.1, 166.44, 172.77, 36272617.0],
            ],
            "collapse": None,
            "order": None,
        }
    }
)  # fmt: skip


def refusal(status: int, code: str, message: str, **headers: str) -> Reply:
    return Reply(
        status,
        json.dumps({"quandl_error": {"code": code, "message": message}}),
        headers=dict(headers),
    )


@pytest.fixture
def nasdaq(make_context: ContextFactory, fast_policy: HttpPolicy) -> NasdaqDataLinkProvider:
    return NasdaqDataLinkProvider(make_context(api_key=KEY), policy=fast_policy)


def test_a_plain_ticker_reads_the_price_table(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(TABLE, Reply(200, table(ROWS)))

    bars = nasdaq.fetch_bars("aapl", start=pd.Timestamp("2020-01-01"), end=None)

    assert list(bars.columns) == [
        "ticker", "date", "open", "high", "low", "close", "volume", "adj_close"
    ]  # fmt: skip
    assert list(bars["date"]) == ["2020-01-02", "2020-01-03", "2020-01-06"]
    assert list(bars["adj_close"]) == [74.5731, 73.8481, 74.4366]
    sent = fake_provider.hits[0].query
    assert sent["ticker"] == "AAPL"
    assert sent["date.gte"] == "2020-01-01"
    assert sent["api_key"] == KEY
    assert "date.lte" not in sent


def test_table_pages_are_followed_through_the_cursor(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(TABLE, Reply(200, table(ROWS[:2], cursor="Y3Vyc29yMg")))
    fake_provider.script(TABLE, Reply(200, table(ROWS[2:])), when={"qopts.cursor_id": "Y3Vyc29yMg"})

    bars = nasdaq.fetch_bars("AAPL", start=None, end=None)

    assert len(bars) == 3
    assert "qopts.cursor_id" not in fake_provider.hits[0].query
    assert fake_provider.hits[1].query["qopts.cursor_id"] == "Y3Vyc29yMg"


def test_a_database_slash_dataset_code_reads_the_time_series_api(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(DATASET, Reply(200, WIKI))

    bars = nasdaq.fetch_bars(
        "WIKI/AAPL", start=pd.Timestamp("2018-03-26"), end=pd.Timestamp("2018-03-27")
    )

    assert list(bars["ticker"]) == ["AAPL", "AAPL"]
    assert list(bars["date"]) == ["2018-03-26", "2018-03-27"]
    assert list(bars["adj_close"]) == [172.77, 168.34]
    sent = fake_provider.hits[0].query
    assert (sent["start_date"], sent["end_date"], sent["order"]) == (
        "2018-03-26",
        "2018-03-27",
        "asc",
    )
    assert fake_provider.hits_on(TABLE) == 0


def test_second_identical_run_is_served_from_cache_and_the_key_is_not_stored(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    fake_provider.script(TABLE, Reply(200, table(ROWS)))
    fake_provider.script(DATASET, Reply(200, WIKI))
    for _ in range(2):
        nasdaq = NasdaqDataLinkProvider(make_context(api_key=KEY), policy=fast_policy)
        nasdaq.fetch_bars("AAPL", start=None, end=None)
        nasdaq.fetch_bars("WIKI/AAPL", start=None, end=None)
        nasdaq.close()

    assert fake_provider.hits_on(TABLE) == 1
    assert fake_provider.hits_on(DATASET) == 1
    stored = b"".join(p.read_bytes() for p in make_context.cache_dir.glob("*.sqlite"))
    assert KEY.encode() not in stored


def test_a_ticker_the_table_does_not_hold_is_unknown(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(TABLE, Reply(200, table([])))

    with pytest.raises(UnknownSymbolError, match="has no rows for 'NOPE'"):
        nasdaq.fetch_bars("NOPE", start=None, end=None)


def test_an_unknown_dataset_code_is_unknown(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        "/api/v3/datasets/WIKI/NOPE/data.json",
        refusal(
            404,
            "QECx02",
            "You have submitted an incorrect Quandl code. Please check your Quandl codes and "
            "try again.",
        ),
    )

    with pytest.raises(UnknownSymbolError, match="QECx02"):
        nasdaq.fetch_bars("WIKI/NOPE", start=None, end=None)


def test_missing_key_is_refused_before_any_call(
    make_context: ContextFactory, fake_provider: FakeProvider
) -> None:
    with pytest.raises(ProviderAuthError, match="STOCKPRED_NASDAQ_DATA_LINK_API_KEY"):
        NasdaqDataLinkProvider(make_context()).fetch_bars("AAPL", start=None, end=None)

    assert fake_provider.hits == []


def test_a_bad_key_is_an_auth_error_that_never_shows_the_key(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        TABLE,
        refusal(
            400,
            "QEAx01",
            "We could not recognize your API key. Please check your API key and try again.",
        ),
    )

    with pytest.raises(ProviderAuthError, match="QEAx01") as caught:
        nasdaq.fetch_bars("AAPL", start=None, end=None)

    assert KEY not in str(caught.value)


def test_429_with_retry_after_then_success(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(
        TABLE,
        refusal(429, "QELx01", "You have exceeded the API speed limit.", **{"Retry-After": "10"}),
        Reply(200, table(ROWS)),
    )

    assert len(nasdaq.fetch_bars("AAPL", start=None, end=None)) == 3
    assert sleeps.calls == [10.0]


def test_daily_limit_that_outlasts_the_retries_is_quota_exhausted(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        TABLE,
        refusal(
            429,
            "QELx04",
            "You have exceeded the API daily limit of 50000 calls.",
            **{"Retry-After": "3600"},
        ),
    )

    with pytest.raises(QuotaExhaustedError) as caught:
        nasdaq.fetch_bars("AAPL", start=None, end=None)

    assert caught.value.reset_at is not None


def test_a_limit_refusal_without_429_is_still_quota_exhausted(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        TABLE, refusal(422, "QELx03", "You have exceeded the API concurrency limit.")
    )

    with pytest.raises(QuotaExhaustedError, match="QELx03"):
        nasdaq.fetch_bars("AAPL", start=None, end=None)


def test_server_error_then_success(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        TABLE,
        refusal(500, "QEMx01", "Something went wrong. Please try again."),
        Reply(200, table(ROWS)),
    )

    assert len(nasdaq.fetch_bars("AAPL", start=None, end=None)) == 3


def test_timeouts_on_every_try_make_the_provider_unavailable(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    nasdaq = NasdaqDataLinkProvider(make_context(api_key=KEY, timeout_s=0.2), policy=fast_policy)
    fake_provider.script(TABLE, Reply(200, table(ROWS), delay_s=0.6))

    with pytest.raises(ProviderUnavailableError, match="timed out"):
        nasdaq.fetch_bars("AAPL", start=None, end=None)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (TABLE, "<html>maintenance</html>", "not JSON"),
        (TABLE, json.dumps({"meta": {}}), "'datatable'"),
        (TABLE, json.dumps({"datatable": {"data": []}}), "'datatable.columns'"),
        (
            TABLE,
            json.dumps({"datatable": {"data": [["AAPL"]], "columns": COLUMNS}, "meta": {}}),
            "row whose length",
        ),
        (
            TABLE,
            json.dumps({"datatable": {"data": [], "columns": COLUMNS[:3]}, "meta": {}}),
            r"lacks the column\(s\) \['high', 'low', 'close', 'volume'\]",
        ),
        (DATASET, json.dumps({"dataset": {}}), "'dataset_data'"),
    ],
)
def test_malformed_answer_names_what_is_wrong(
    nasdaq: NasdaqDataLinkProvider, fake_provider: FakeProvider, path: str, body: str, field: str
) -> None:
    fake_provider.script(path, Reply(200, body))
    symbol = "WIKI/AAPL" if path == DATASET else "AAPL"

    with pytest.raises(MalformedResponseError, match=field):
        nasdaq.fetch_bars(symbol, start=None, end=None)

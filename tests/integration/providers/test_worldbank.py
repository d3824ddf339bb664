"""The World Bank adapter against a loopback server answering in the indicator API's JSON."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderUnavailableError,
    QuotaExhaustedError,
    UnknownSymbolError,
)
from stockpred.sources.providers.http import HttpPolicy
from stockpred.sources.providers.worldbank import WorldBankProvider
from stockpred.sources.providers.worldbank.parsing import parse_period, split_series_id
from support.fake_provider import ContextFactory, FakeProvider, Reply, Sleeps

PATH = "/v2/country/USA/indicator/NY.GDP.MKTP.CD"
SERIES = "USA:NY.GDP.MKTP.CD"


def row(year: str, value: object) -> dict[str, object]:
    return {
        "indicator": {"id": "NY.GDP.MKTP.CD", "value": "GDP (current US$)"},
        "country": {"id": "US", "value": "United States"},
        "countryiso3code": "USA",
        "date": year,
        "value": value,
        "unit": "",
        "obs_status": "",
        "decimal": 0,
    }


def page(
    rows: list[dict[str, object]] | None,
    *,
    number: int = 1,
    pages: int = 1,
    total: int | None = None,
    updated: str = "2024-07-01",
) -> str:
    """One answer of the indicator API: ``[header, rows]``, newest year first as it sends them."""
    header = {
        "page": number,
        "pages": pages,
        "per_page": 1000,
        "total": len(rows or []) if total is None else total,
        "sourceid": "2",
        "sourcename": "World Development Indicators",
        "lastupdated": updated,
    }
    return json.dumps([header, rows])


GDP = [
    row("2023", 27360935000000.0),
    row("2022", 25744108000000.0),
    row("2021", 23594031000000.0),
    row("2020", None),
]


def message(ident: str, key: str, value: str) -> Reply:
    return Reply(200, json.dumps([{"message": [{"id": ident, "key": key, "value": value}]}]))


@pytest.fixture
def worldbank(make_context: ContextFactory, fast_policy: HttpPolicy) -> WorldBankProvider:
    return WorldBankProvider(make_context(), policy=fast_policy)


def test_values_are_dated_by_the_indicators_last_update_never_earlier(
    worldbank: WorldBankProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, page(GDP)))

    points = worldbank.fetch_series(SERIES, start=None, end=None)

    assert list(points["period"]) == [date(2021, 1, 1), date(2022, 1, 1), date(2023, 1, 1)]
    assert list(points["value"]) == [23594031000000.0, 25744108000000.0, 27360935000000.0]
    assert set(points["released_at"]) == {pd.Timestamp("2024-07-01 23:59:59", tz="UTC")}
    assert set(points["series_id"]) == {SERIES}
    assert set(points["source"]) == {"worldbank"}
    sent = fake_provider.hits[0].query
    assert sent["format"] == "json"
    assert sent["page"] == "1"
    assert sent["per_page"] == "1000"


def test_a_series_without_country_reads_the_default_country(
    worldbank: WorldBankProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, page(GDP)))

    points = worldbank.fetch_series("ny.gdp.mktp.cd", start=pd.Timestamp("2022-01-01"), end=None)

    assert list(points["period"]) == [date(2022, 1, 1), date(2023, 1, 1)]
    assert set(points["series_id"]) == {"NY.GDP.MKTP.CD"}
    assert fake_provider.hits_on(PATH) == 1


def test_pages_are_followed_until_the_last(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    worldbank = WorldBankProvider(make_context(), policy=fast_policy, page_size=2)
    fake_provider.script(PATH, Reply(200, page(GDP[:2], pages=2, total=4)), when={"page": "1"})
    fake_provider.script(
        PATH, Reply(200, page(GDP[2:], number=2, pages=2, total=4)), when={"page": "2"}
    )

    points = worldbank.fetch_series(SERIES, start=None, end=None)

    assert len(points) == 3
    assert [h.query["page"] for h in fake_provider.hits] == ["1", "2"]
    assert all(h.query["per_page"] == "2" for h in fake_provider.hits)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2023", date(2023, 1, 1)), ("2023M02", date(2023, 2, 1)), ("2023Q3", date(2023, 7, 1))],
)
def test_periods_are_the_first_day_of_the_year_month_or_quarter(text: str, expected: date) -> None:
    assert parse_period(text) == expected


def test_series_ids_split_into_country_and_indicator() -> None:
    assert split_series_id("gbr:FP.CPI.TOTL.ZG") == ("GBR", "FP.CPI.TOTL.ZG")
    assert split_series_id("FP.CPI.TOTL.ZG") == ("USA", "FP.CPI.TOTL.ZG")


def test_monthly_values_keep_their_month(
    worldbank: WorldBankProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, page([row("2023M02", 2.5), row("2023M01", 2.1)])))

    points = worldbank.fetch_series(SERIES, start=None, end=None)

    assert list(points["period"]) == [date(2023, 1, 1), date(2023, 2, 1)]


def test_second_identical_run_is_served_from_cache(
    worldbank: WorldBankProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, page(GDP)))

    worldbank.fetch_series(SERIES, start=None, end=None)
    worldbank.fetch_series(SERIES, start=None, end=None)

    assert fake_provider.hits_on(PATH) == 1


def test_unknown_indicator_is_a_clear_error_and_is_not_cached(
    worldbank: WorldBankProvider, fake_provider: FakeProvider
) -> None:
    nope = "/v2/country/USA/indicator/NOPE.X"
    fake_provider.script(
        nope,
        message(
            "175",
            "Invalid format",
            "The indicator was not found. It may have been deleted or archived.",
        ),
    )

    for _ in range(2):
        with pytest.raises(UnknownSymbolError, match=r"worldbank does not know 'USA:NOPE\.X'"):
            worldbank.fetch_series("USA:NOPE.X", start=None, end=None)

    assert fake_provider.hits_on(nope) == 2


def test_unknown_country_is_a_clear_error(
    worldbank: WorldBankProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        "/v2/country/XXX/indicator/NY.GDP.MKTP.CD",
        message("120", "Invalid value", "The provided parameter value is not valid"),
    )

    with pytest.raises(UnknownSymbolError, match="Invalid value"):
        worldbank.fetch_series("XXX:NY.GDP.MKTP.CD", start=None, end=None)


def test_an_empty_indicator_is_unknown(
    worldbank: WorldBankProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(200, page(None, pages=0, total=0, number=0)))

    with pytest.raises(UnknownSymbolError, match="no values"):
        worldbank.fetch_series(SERIES, start=None, end=None)


def test_429_with_retry_after_then_success(
    worldbank: WorldBankProvider, fake_provider: FakeProvider, sleeps: Sleeps
) -> None:
    fake_provider.script(
        PATH, Reply(429, "Too Many Requests", headers={"Retry-After": "7"}), Reply(200, page(GDP))
    )

    assert len(worldbank.fetch_series(SERIES, start=None, end=None)) == 3
    assert sleeps.calls == [7.0]


def test_429_that_outlasts_the_retries_is_quota_exhausted(
    worldbank: WorldBankProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(429, "Too Many Requests", headers={"Retry-After": "30"}))

    with pytest.raises(QuotaExhaustedError) as caught:
        worldbank.fetch_series(SERIES, start=None, end=None)

    assert caught.value.reset_at is not None


def test_server_error_then_success(
    worldbank: WorldBankProvider, fake_provider: FakeProvider
) -> None:
    fake_provider.script(PATH, Reply(503, "Service Unavailable"), Reply(200, page(GDP)))

    assert len(worldbank.fetch_series(SERIES, start=None, end=None)) == 3


def test_timeouts_on_every_try_make_the_provider_unavailable(
    make_context: ContextFactory, fake_provider: FakeProvider, fast_policy: HttpPolicy
) -> None:
    worldbank = WorldBankProvider(make_context(timeout_s=0.2), policy=fast_policy)
    fake_provider.script(PATH, Reply(200, page(GDP), delay_s=0.6))

    with pytest.raises(ProviderUnavailableError, match="timed out"):
        worldbank.fetch_series(SERIES, start=None, end=None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("<html>maintenance</html>", "not JSON"),
        (json.dumps({"page": 1}), r"\[header, rows\]"),
        (page(GDP, updated="yesterday"), "'lastupdated'"),
        (page([{"date": "2023"}]), "without 'date' and 'value'"),
        (page([row("sometime", 1.0)]), "'date' is unreadable"),
        (page([row("2023", "lots")]), "non-numeric 'value'"),
    ],
)
def test_malformed_answer_names_what_is_wrong(
    worldbank: WorldBankProvider, fake_provider: FakeProvider, body: str, field: str
) -> None:
    fake_provider.script(PATH, Reply(200, body))

    with pytest.raises(MalformedResponseError, match=field):
        worldbank.fetch_series(SERIES, start=None, end=None)

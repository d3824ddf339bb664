"""`stockpred ingest prices|macro` through Nasdaq Data Link, Yahoo and the World Bank on loopback.

As in test_cli_providers.py, only the base URLs differ from the real services
(STOCKPRED_PROVIDER_URLS), as a user would set them for a proxy or a mirror.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from stockpred.cli.app import main
from support.fake_provider import FakeProvider, Reply, serve

NASDAQ_TABLE = "/api/v3/datatables/QUOTEMEDIA/PRICES.json"
YAHOO_CHART = "/v8/finance/chart/AAPL"
WORLDBANK = "/v2/country/USA/indicator/NY.GDP.MKTP.CD"
CLOSES = [75.0875, 74.3575, 74.95, 74.5975]

NASDAQ_BODY = json.dumps(
    {
        "datatable": {
            "data": [
                ["AAPL", "2020-01-02", 74.06, 75.15, 73.7975, 75.0875, 135480400, 73.0596],
                ["AAPL", "2020-01-03", 74.2875, 75.145, 74.125, 74.3575, 146322800, 72.3493],
                ["AAPL", "2020-01-06", 73.4475, 74.99, 73.1875, 74.95, 118387200, 72.9253],
                ["AAPL", "2020-01-07", 74.96, 75.225, 74.37, 74.5975, 108872000, 72.5829],
            ],
            "columns": [
                {"name": name, "type": "String"}
                for name in ("ticker", "date", "open", "high", "low", "close", "volume")
            ]
            + [{"name": "adj_close", "type": "BigDecimal(34,12)"}],
        },
        "meta": {"next_cursor_id": None},
    }
)
YAHOO_BODY = json.dumps(
    {
        "chart": {
            "result": [
                {
                    "meta": {"symbol": "AAPL", "exchangeTimezoneName": "America/New_York"},
                    "timestamp": [1577975400, 1578061800, 1578321000, 1578407400],
                    "indicators": {
                        "quote": [
                            {
                                "open": [74.06, 74.2875, 73.4475, 74.96],
                                "high": [75.15, 75.145, 74.99, 75.225],
                                "low": [73.7975, 74.125, 73.1875, 74.37],
                                "close": CLOSES,
                                "volume": [135480400, 146322800, 118387200, 108872000],
                            }
                        ],
                        "adjclose": [{"adjclose": [73.0596, 72.3493, 72.9253, 72.5829]}],
                    },
                }
            ],
            "error": None,
        }
    }
)


def worldbank_body(updated: str, values: dict[str, float]) -> str:
    header = {"page": 1, "pages": 1, "per_page": 1000, "total": len(values), "lastupdated": updated}
    rows = [
        {
            "indicator": {"id": "NY.GDP.MKTP.CD", "value": "GDP (current US$)"},
            "country": {"id": "US", "value": "United States"},
            "countryiso3code": "USA",
            "date": year,
            "value": value,
            "unit": "",
            "obs_status": "",
            "decimal": 0,
        }
        for year, value in values.items()
    ]
    return json.dumps([header, rows])


@pytest.fixture
def providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    with serve(FakeProvider()) as server:
        urls = dict.fromkeys(("nasdaqdatalink", "yahoo", "worldbank"), server.url)
        monkeypatch.setenv("STOCKPRED_PROVIDER_URLS", json.dumps(urls))
        yield server


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "case",
    [("nasdaqdatalink", NASDAQ_TABLE, NASDAQ_BODY), ("yahoo", YAHOO_CHART, YAHOO_BODY)],
    ids=["nasdaqdatalink", "yahoo"],
)
def test_prices_from_each_new_provider_are_fetched_validated_and_stored(
    providers: FakeProvider,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, str, str],
) -> None:
    source, path, body = case
    monkeypatch.setenv("STOCKPRED_NASDAQ_DATA_LINK_API_KEY", "nasdaq-key-0123456789")
    providers.script(path, Reply(200, body))
    args = ("ingest", "prices", "--source", source, "--tickers", "AAPL", "--start", "2020-01-01")

    code, out, err = run(capsys, *args, "--json")

    assert code == 0, err
    payload = json.loads(out)
    assert payload["fetched"] == {"AAPL": 4}
    assert payload["ingest"]["bars"]["inserted"] == 4
    code, out, _ = run(capsys, "data", "show", "AAPL", "--json")
    assert [row["close"] for row in json.loads(out)] == CLOSES
    assert {row["source"] for row in json.loads(out)} == {source}
    # The same command again is answered from the cache: the provider sees no new request.
    assert run(capsys, *args)[0] == 0
    assert providers.hits_on(path) == 1


def test_nasdaqdatalink_without_a_key_says_which_variable_to_set(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "ingest", "prices", "--source", "nasdaqdatalink", "--tickers", "AAPL"
    )

    assert code == 1
    assert "STOCKPRED_NASDAQ_DATA_LINK_API_KEY" in out + err
    assert providers.hits == []


def test_worldbank_values_are_known_from_the_indicators_last_update(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    series = "USA:NY.GDP.MKTP.CD"
    providers.script(
        WORLDBANK, Reply(200, worldbank_body("2024-07-01", {"2023": 27.36e12, "2022": 25.74e12}))
    )
    args = ("ingest", "macro", "--source", "worldbank", "--series", series)

    code, out, err = run(capsys, *args, "--json")

    assert code == 0, err
    assert json.loads(out)["points"]["inserted"] == 2
    before = json.loads(run(capsys, "data", "macro", series, "--as-of", "2024-06-30", "--json")[1])
    after = json.loads(run(capsys, "data", "macro", series, "--as-of", "2024-07-02", "--json")[1])
    assert before == []
    assert [p["value"] for p in after] == [25.74e12, 27.36e12]
    # The same command again is answered from the cache and writes nothing new.
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0
    assert json.loads(out)["points"]["inserted"] == 0
    assert providers.hits_on(WORLDBANK) == 1

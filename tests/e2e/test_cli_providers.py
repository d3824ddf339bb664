"""`stockpred ingest prices|macro` and `stockpred sources` against providers on loopback.

Only the base URL differs from the real services (STOCKPRED_PROVIDER_URLS), as a user would set it
for a proxy or a mirror.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from stockpred.cli.app import main
from support.fake_provider import FakeProvider, Reply, serve

STOOQ = "/q/d/l/"
FRED = "/fred/series/observations"
AAPL = """Date,Open,High,Low,Close,Volume
2020-01-02,74.06,75.15,73.7975,75.0875,135480400
2020-01-03,74.2875,75.145,74.125,74.3575,146322800
2020-01-06,73.4475,74.99,73.1875,74.95,118387200
2020-01-07,74.96,75.225,74.37,74.5975,108872000
"""
MSFT = """Date,Open,High,Low,Close,Volume
2020-01-02,158.78,160.73,158.33,160.62,22634500
2020-01-03,158.32,159.945,158.06,158.62,21121700
"""


def fred_body(rows: list[tuple[str, str, str, str]]) -> str:
    return json.dumps(
        {
            "count": len(rows),
            "offset": 0,
            "limit": 100000,
            "observations": [
                {"realtime_start": a, "realtime_end": b, "date": d, "value": v}
                for a, b, d, v in rows
            ],
        }
    )


@pytest.fixture
def providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    with serve(FakeProvider()) as server:
        monkeypatch.setenv(
            "STOCKPRED_PROVIDER_URLS", json.dumps({"stooq": server.url, "fred": server.url})
        )
        yield server


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_prices_are_fetched_validated_and_stored_as_the_issue_shows(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    providers.script(STOOQ, Reply(200, AAPL), when={"s": "aapl.us"})
    providers.script(STOOQ, Reply(200, MSFT), when={"s": "msft.us"})

    code, out, err = run(
        capsys,
        "ingest",
        "prices",
        "--source",
        "stooq",
        "--tickers",
        "AAPL",
        "MSFT",
        "--start",
        "2020-01-01",
        "--json",
    )

    assert code == 0, err
    payload = json.loads(out)
    assert payload["fetched"] == {"AAPL": 4, "MSFT": 2}
    assert payload["ingest"]["bars"]["inserted"] == 6
    assert {h.query["d1"] for h in providers.hits} == {"20200101"}
    code, out, _ = run(capsys, "data", "show", "AAPL", "--json")
    assert [row["close"] for row in json.loads(out)] == [75.0875, 74.3575, 74.95, 74.5975]
    assert {row["source"] for row in json.loads(out)} == {"stooq"}


def test_second_run_resumes_from_the_store_with_an_overlap(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    providers.script(STOOQ, Reply(200, AAPL))
    assert run(capsys, "ingest", "prices", "--source", "stooq", "--tickers", "AAPL")[0] == 0

    code, _, err = run(capsys, "ingest", "prices", "--source", "stooq", "--tickers", "AAPL")

    assert code == 0, err
    second = providers.hits[-1].query
    # Last stored session 2020-01-07; five sessions earlier is 2019-12-30.
    assert second["d1"] == "20191230"


def test_unknown_ticker_is_reported_and_the_others_are_kept(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    providers.script(STOOQ, Reply(200, AAPL), when={"s": "aapl.us"})
    providers.script(STOOQ, Reply(200, "No data"), when={"s": "nope.us"})

    code, out, err = run(
        capsys, "ingest", "prices", "--source", "stooq", "--tickers", "AAPL,NOPE", "--json"
    )

    assert code == 0, err
    payload = json.loads(out)
    assert payload["fetched"] == {"AAPL": 4}
    assert payload["failures"][0]["symbol"] == "NOPE"
    assert payload["failures"][0]["kind"] == "unknown_symbol"


def test_nothing_fetched_exits_1_with_one_line(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    providers.script(STOOQ, Reply(200, "No data"))

    code, _, err = run(capsys, "ingest", "prices", "--source", "stooq", "--tickers", "NOPE")

    assert code == 1
    assert err.startswith("error: nothing was fetched from stooq")


def test_unknown_provider_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ingest", "prices", "--source", "bloomberg", "--tickers", "AAPL")

    assert code == 1
    assert "unknown provider 'bloomberg'" in err
    assert err.count("\n") == 1


def test_fred_revision_keeps_both_vintages_and_as_of_reads_the_old_value(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_FRED_API_KEY", "0123456789abcdef0123456789abcdef")
    providers.script(
        FRED,
        Reply(
            200,
            fred_body(
                [
                    ("2023-04-27", "2023-05-24", "2023-01-01", "26465.865"),
                    ("2023-05-25", "9999-12-31", "2023-01-01", "26486.287"),
                ]
            ),
        ),
    )

    code, out, err = run(capsys, "ingest", "macro", "--source", "fred", "--series", "GDP", "--json")

    assert code == 0, err
    assert json.loads(out)["points"]["inserted"] == 2
    before = json.loads(run(capsys, "data", "macro", "GDP", "--as-of", "2023-05-01", "--json")[1])
    after = json.loads(run(capsys, "data", "macro", "GDP", "--as-of", "2023-06-01", "--json")[1])
    assert [p["value"] for p in before] == [26465.865]
    assert [p["value"] for p in after] == [26486.287]


def test_macro_without_a_key_says_which_variable_to_set(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "ingest", "macro", "--source", "fred", "--series", "GDP")

    assert code == 1
    assert "STOCKPRED_FRED_API_KEY" in out + err
    assert providers.hits == []


def test_sources_lists_providers_with_key_state_and_last_outcome(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    providers.script(STOOQ, Reply(200, AAPL))
    assert run(capsys, "ingest", "prices", "--source", "stooq", "--tickers", "AAPL")[0] == 0

    code, out, _ = run(capsys, "sources", "--json")

    assert code == 0
    rows = {row["provider"]: row for row in json.loads(out)}
    assert rows["stooq"]["key"] == "not needed"
    assert rows["stooq"]["last_success"] != ""
    assert rows["stooq"]["base_url"] == providers.url
    assert rows["fred"]["key"].startswith("missing")
    assert rows["fred"]["rate_limit"] == "120/min"


def test_scheduler_lists_jobs_with_next_runs_and_why_one_is_disabled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_UNIVERSE", '["AAPL", "MSFT"]')

    code, out, err = run(capsys, "scheduler", "--list", "--json")

    assert code == 0, err
    jobs = {job["job"]: job for job in json.loads(out)}
    assert jobs["prices"]["disabled"] is None
    assert len(jobs["prices"]["next_runs"]) == 3
    assert "STOCKPRED_MACRO_SERIES" in jobs["macro"]["disabled"]
    assert jobs["features"]["disabled"] is None
    assert "Saturday" in jobs["retrain"]["when"]


def test_scheduler_runs_the_price_feed_once_for_the_universe(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_UNIVERSE", '["AAPL", "MSFT"]')
    providers.script(STOOQ, Reply(200, AAPL), when={"s": "aapl.us"})
    providers.script(STOOQ, Reply(200, MSFT), when={"s": "msft.us"})

    code, out, err = run(capsys, "scheduler", "--run", "prices", "--json")

    assert code == 0, err
    assert json.loads(out)["summary"].startswith("2 tickers fetched, 6 new bars")


def test_scheduler_with_nothing_enabled_says_what_to_configure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "scheduler")

    assert code == 1
    assert "STOCKPRED_UNIVERSE" in err
    assert err.count("\n") == 1

"""summarise_coverage: sessions a ticker is missing, judged by the exchange calendar."""

from __future__ import annotations

import pandas as pd

from stockpred.quality.sessions import COVERAGE_COLUMNS, summarise_coverage

# XNYS sessions from Monday 1 July to Friday 12 July 2013; 4 July is a holiday.
JULY_2013 = [
    "2013-07-01",
    "2013-07-02",
    "2013-07-03",
    "2013-07-05",
    "2013-07-08",
    "2013-07-09",
    "2013-07-10",
    "2013-07-11",
    "2013-07-12",
]


def dates_of(ticker: str, days: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"ticker": ticker, "date": pd.to_datetime(days)})


def test_complete_history_across_a_holiday_and_weekends_misses_nothing() -> None:
    coverage = summarise_coverage(dates_of("AAPL", JULY_2013), calendar="XNYS")

    (row,) = coverage.to_dict("records")
    assert row["missing_sessions"] == 0
    assert row["first_missing"] == ""
    assert row["rows"] == 9
    assert row["first"] == pd.Timestamp("2013-07-01")
    assert row["last"] == pd.Timestamp("2013-07-12")


def test_ticker_with_gaps_reports_the_count_and_first_missing_dates() -> None:
    gappy = [
        d for d in JULY_2013 if d not in {"2013-07-02", "2013-07-08", "2013-07-09", "2013-07-10"}
    ]

    coverage = summarise_coverage(dates_of("MSFT", gappy), calendar="XNYS")

    (row,) = coverage.to_dict("records")
    assert row["missing_sessions"] == 4
    assert row["first_missing"] == "2013-07-02, 2013-07-08, 2013-07-09"
    assert row["rows"] == 5


def test_show_limits_how_many_missing_dates_are_listed() -> None:
    gappy = ["2013-07-01", "2013-07-12"]

    coverage = summarise_coverage(dates_of("MSFT", gappy), calendar="XNYS", show=1)

    assert coverage.loc[0, "missing_sessions"] == 7
    assert coverage.loc[0, "first_missing"] == "2013-07-02"


def test_each_ticker_is_judged_on_its_own_span() -> None:
    dates = pd.concat(
        [
            dates_of("MSFT", ["2013-07-01", "2013-07-03"]),
            dates_of("AAPL", JULY_2013[4:]),
        ]
    )

    coverage = summarise_coverage(dates, calendar="XNYS")

    assert list(coverage["ticker"]) == ["AAPL", "MSFT"]
    assert list(coverage["missing_sessions"]) == [0, 1]
    assert list(coverage["first_missing"]) == ["", "2013-07-02"]


def test_london_holiday_is_not_missing_on_the_london_calendar() -> None:
    # 26 December is a London holiday but a New York session.
    days = ["2013-12-23", "2013-12-24", "2013-12-27"]

    london = summarise_coverage(dates_of("VOD.L", days), calendar="XLON")
    new_york = summarise_coverage(dates_of("VOD", days), calendar="XNYS")

    assert london.loc[0, "missing_sessions"] == 0
    assert new_york.loc[0, "missing_sessions"] == 1
    assert new_york.loc[0, "first_missing"] == "2013-12-26"


def test_no_dates_give_an_empty_summary() -> None:
    coverage = summarise_coverage(
        pd.DataFrame({"ticker": [], "date": pd.to_datetime([])}), calendar="XNYS"
    )

    assert coverage.empty
    assert tuple(coverage.columns) == COVERAGE_COLUMNS

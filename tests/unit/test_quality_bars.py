"""validate_bars: every rule rejects the row that breaks it and keeps the good rows next to it."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockpred.domain.errors import InputFileError
from stockpred.quality.bars import REJECT_COLUMNS, BarRules, decide_date_format, validate_bars

FILE = "prices.csv"


def bar(row: int, date: str, **overrides: Any) -> dict[str, Any]:
    """One raw row as a CSV reader hands it over: text, a good bar unless overridden."""
    values: dict[str, Any] = {
        "file": FILE,
        "row": row,
        "ticker": "AAPL",
        "date": date,
        "open": "10",
        "high": "11",
        "low": "9",
        "close": "10.5",
        "volume": "1000",
        "adj_close": "10.4",
    }
    values.update(overrides)
    return values


def frame(*bars: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(bars))


def with_bad_row(**overrides: Any) -> pd.DataFrame:
    """Good sessions at rows 2 and 4, the row under test at 3 (2013-12-03 unless overridden)."""
    return frame(
        bar(2, "2013-12-02"),
        bar(3, overrides.pop("date", "2013-12-03"), **overrides),
        bar(4, "2013-12-04"),
    )


def problems_of(rejects: pd.DataFrame, row: int) -> set[tuple[str, str]]:
    found = rejects[rejects["row"] == row]
    return set(zip(found["field"], found["reason"], strict=True))


# (overrides of row 3, field reported, reason reported, raw value reported)
RULES = {
    "unparseable date": ({"date": "2013-13-45"}, "date", "not a date", "2013-13-45"),
    "text date": ({"date": "yesterday"}, "date", "not a date", "yesterday"),
    "non-numeric open": ({"open": "abc"}, "open", "not a number", "abc"),
    "thousands separator in volume": (
        {"volume": "1,000"},
        "volume",
        "not a number",
        "1,000",
    ),
    "empty close": ({"close": ""}, "close", "missing value", ""),
    "blank high": ({"high": "   "}, "high", "missing value", "   "),
    "NaN volume": ({"volume": np.nan}, "volume", "missing value", ""),
    "None low": ({"low": None}, "low", "missing value", ""),
    "missing date": ({"date": ""}, "date", "missing value", ""),
    "missing ticker": ({"ticker": np.nan}, "ticker", "missing value", ""),
    "zero low": ({"low": "0"}, "low", "must be greater than 0", "0"),
    "negative adj_close": (
        {"adj_close": "-10.4"},
        "adj_close",
        "must be greater than 0",
        "-10.4",
    ),
    "negative open": ({"open": "-10"}, "open", "must be greater than 0", "-10"),
    "negative volume": ({"volume": "-100"}, "volume", "must not be negative", "-100"),
    "high below close": ({"high": "10.2"}, "high", "high is below max(open, close)", "10.2"),
    "high below open": (
        {"open": "10.8", "high": "10.6"},
        "high",
        "high is below max(open, close)",
        "10.6",
    ),
    "low above open": (
        {"open": "9.5", "low": "9.8"},
        "low",
        "low is above min(open, close)",
        "9.8",
    ),
    "low above close": (
        {"close": "9.5", "low": "9.7"},
        "low",
        "low is above min(open, close)",
        "9.7",
    ),
    "independence day": (
        {"date": "2013-07-04"},
        "date",
        "not a trading session of the XNYS calendar",
        "2013-07-04",
    ),
    "saturday": (
        {"date": "2013-07-06"},
        "date",
        "not a trading session of the XNYS calendar",
        "2013-07-06",
    ),
    "christmas": (
        {"date": "2013-12-25"},
        "date",
        "not a trading session of the XNYS calendar",
        "2013-12-25",
    ),
    "space in ticker": (
        {"ticker": "BAD TICKER"},
        "ticker",
        "not a valid ticker symbol",
        "BAD TICKER",
    ),
    "ticker with a dollar sign": (
        {"ticker": "$AAPL"},
        "ticker",
        "not a valid ticker symbol",
        "$AAPL",
    ),
    "ticker longer than 20 characters": (
        {"ticker": "A" * 21},
        "ticker",
        "not a valid ticker symbol",
        "A" * 21,
    ),
}


@pytest.mark.parametrize(
    ("overrides", "field", "reason", "value"), list(RULES.values()), ids=list(RULES)
)
def test_row_breaking_a_rule_is_rejected_and_neighbours_kept(
    overrides: dict[str, Any], field: str, reason: str, value: str
) -> None:
    result = validate_bars(with_bad_row(**overrides), calendar="XNYS")

    assert list(result.clean["row"]) == [2, 4]
    assert set(result.rejects["row"]) == {3}
    assert (field, reason) in problems_of(result.rejects, 3)
    reported = result.rejects[result.rejects["field"] == field]
    assert list(reported["value"]) == [value]
    assert list(reported["file"]) == [FILE]
    assert result.rejected_rows == 1
    assert result.input_rows == 3


def test_row_with_high_below_close_is_rejected_and_neighbours_kept() -> None:
    raw = with_bad_row(open="10", high="10.2", low="9", close="10.5")

    result = validate_bars(raw, calendar="XNYS")

    assert list(result.clean["row"]) == [2, 4]
    (only,) = result.rejects.to_dict("records")
    assert only == {
        "file": FILE,
        "row": 3,
        "ticker": "AAPL",
        "date": "2013-12-03",
        "field": "high",
        "value": "10.2",
        "reason": "high is below max(open, close)",
    }


def test_non_numeric_price_is_reported_once_not_again_as_missing() -> None:
    result = validate_bars(with_bad_row(open="abc"), calendar="XNYS")

    assert problems_of(result.rejects, 3) == {("open", "not a number")}


def test_missing_price_is_not_reported_again_as_a_broken_range() -> None:
    result = validate_bars(with_bad_row(close=""), calendar="XNYS")

    assert problems_of(result.rejects, 3) == {("close", "missing value")}


def test_row_with_several_problems_is_one_rejected_row_with_one_line_each() -> None:
    result = validate_bars(with_bad_row(open="abc", volume="-5"), calendar="XNYS")

    assert problems_of(result.rejects, 3) == {
        ("open", "not a number"),
        ("volume", "must not be negative"),
    }
    assert result.rejected_rows == 1
    assert list(result.clean["row"]) == [2, 4]


def test_reject_report_has_the_contract_columns_and_raw_text() -> None:
    raw = frame(bar(7, "2013-07-04", ticker="msft", high="10.0100"))

    result = validate_bars(raw, calendar="XNYS")

    assert tuple(result.rejects.columns) == REJECT_COLUMNS
    # The date as written in the file, not a parsed timestamp.
    assert set(result.rejects["date"]) == {"2013-07-04"}
    assert set(result.rejects["row"]) == {7}
    # The high as written ("10.0100"), not the float 10.01.
    assert "10.0100" in set(result.rejects["value"])


def test_reported_rows_are_the_raw_row_numbers_not_positions() -> None:
    raw = frame(
        bar(17, "2013-12-02"),
        bar(42, "2013-12-03", close="abc"),
        bar(99, "2013-12-04"),
    )
    raw.index = pd.Index([100, 200, 300])

    result = validate_bars(raw, calendar="XNYS")

    assert list(result.rejects["row"]) == [42]
    assert list(result.clean["row"]) == [17, 99]
    assert list(result.clean["file"]) == [FILE, FILE]


def test_rows_are_reported_with_the_file_they_came_from() -> None:
    raw = frame(
        bar(2, "2013-12-02", file="a.csv"),
        bar(2, "2013-12-03", file="b.csv", ticker="MSFT", open="x"),
        bar(3, "2013-12-03", file="a.csv"),
    )

    result = validate_bars(raw, calendar="XNYS")

    assert result.rejects[["file", "row", "ticker"]].to_dict("records") == [
        {"file": "b.csv", "row": 2, "ticker": "MSFT"}
    ]
    assert set(zip(result.clean["file"], result.clean["row"], strict=True)) == {
        ("a.csv", 2),
        ("a.csv", 3),
    }


def test_identical_duplicate_keeps_the_first_and_reports_the_repeat() -> None:
    raw = frame(
        bar(2, "2013-12-02"),
        bar(3, "2013-12-03"),
        bar(4, "2013-12-04"),
        # Same values written differently are still the same bar.
        bar(5, "2013-12-02", open="10.00", volume="1000.0"),
    )

    result = validate_bars(raw, calendar="XNYS")

    assert list(result.clean["row"]) == [2, 3, 4]
    (repeat,) = result.rejects.to_dict("records")
    assert repeat["row"] == 5
    assert repeat["field"] == "date"
    assert repeat["reason"].startswith("duplicate of row 2")
    assert result.rejected_rows == 1


def test_conflicting_duplicates_are_all_rejected_and_neighbours_kept() -> None:
    raw = frame(
        bar(2, "2013-12-02"),
        bar(3, "2013-12-03", close="10.5"),
        bar(4, "2013-12-03", close="10.6"),
        bar(5, "2013-12-04"),
    )

    result = validate_bars(raw, calendar="XNYS")

    assert list(result.clean["row"]) == [2, 5]
    assert list(result.rejects["row"]) == [3, 4]
    for reason in result.rejects["reason"]:
        assert "conflicting" in reason
        assert "3, 4" in reason
    assert result.rejected_rows == 2


def test_conflict_is_not_settled_by_two_copies_that_agree() -> None:
    raw = frame(
        bar(2, "2013-12-03", close="10.5"),
        bar(3, "2013-12-03", close="10.5"),
        bar(4, "2013-12-03", close="10.6"),
    )

    result = validate_bars(raw, calendar="XNYS")

    assert result.clean.empty
    assert set(result.rejects["row"]) == {2, 3, 4}


def test_same_date_for_different_tickers_is_not_a_duplicate() -> None:
    raw = frame(bar(2, "2013-12-03", ticker="AAPL"), bar(3, "2013-12-03", ticker="MSFT"))

    result = validate_bars(raw, calendar="XNYS")

    assert sorted(result.clean["ticker"]) == ["AAPL", "MSFT"]
    assert result.rejects.empty


def test_duplicate_of_a_rejected_row_is_kept() -> None:
    # The first copy is broken, so the second is the only valid bar for the date.
    raw = frame(bar(2, "2013-12-03", high="1"), bar(3, "2013-12-03"))

    result = validate_bars(raw, calendar="XNYS")

    assert list(result.clean["row"]) == [3]
    assert set(result.rejects["row"]) == {2}


@pytest.mark.parametrize(
    ("date", "close_utc"),
    [
        # Normal winter session: 16:00 EST is 21:00 UTC.
        ("2013-12-02", "2013-12-02 21:00"),
        # Normal summer session: 16:00 EDT is 20:00 UTC.
        ("2013-07-15", "2013-07-15 20:00"),
        # Day after Thanksgiving closes at 13:00 EST = 18:00 UTC.
        ("2013-11-29", "2013-11-29 18:00"),
        # Eve of Independence Day closes at 13:00 EDT = 17:00 UTC.
        ("2013-07-03", "2013-07-03 17:00"),
        # Christmas Eve closes at 13:00 EST = 18:00 UTC.
        ("2013-12-24", "2013-12-24 18:00"),
        # The day clocks went forward (2013-03-10 was a Sunday): Monday is already EDT.
        ("2013-03-11", "2013-03-11 20:00"),
    ],
)
def test_ts_is_the_utc_close_of_the_session(date: str, close_utc: str) -> None:
    result = validate_bars(frame(bar(2, date)), calendar="XNYS")

    (ts,) = result.clean["ts"]
    assert ts == pd.Timestamp(close_utc, tz="UTC")
    assert str(result.clean["ts"].dt.tz) == "UTC"
    assert result.clean["date"].iloc[0] == pd.Timestamp(date)
    assert result.clean["date"].dt.tz is None


def test_month_day_year_dates_parse_as_us_dates() -> None:
    # Read as D/M/Y, 1/4/1999 would be 1 April 1999, also a session; it must be 4 January.
    raw = frame(bar(2, "1/4/1999"), bar(3, "1/5/1999"), bar(4, "12/31/1999"))

    result = validate_bars(raw, calendar="XNYS")

    assert result.rejects.empty
    assert list(result.clean["date"]) == [
        pd.Timestamp("1999-01-04"),
        pd.Timestamp("1999-01-05"),
        pd.Timestamp("1999-12-31"),
    ]


def test_dates_with_a_midnight_time_are_the_session_date() -> None:
    raw = frame(bar(2, "2013-12-02 00:00:00"), bar(3, "2013-12-03T00:00:00"))

    result = validate_bars(raw, calendar="XNYS")

    assert list(result.clean["date"]) == [pd.Timestamp("2013-12-02"), pd.Timestamp("2013-12-03")]


def test_typed_input_from_parquet_is_accepted() -> None:
    raw = pd.DataFrame(
        {
            "file": "prices.parquet",
            "row": [1, 2],
            "ticker": ["IBM", "IBM"],
            "date": pd.to_datetime(["2013-12-02", "2013-12-03"]),
            "open": [10.0, 10.0],
            "high": [11.0, 9.0],
            "low": [9.0, 8.0],
            "close": [10.5, 10.5],
            "volume": np.array([1000, 1000], dtype=np.int64),
        }
    )

    result = validate_bars(raw, calendar="XNYS")

    assert list(result.clean["row"]) == [1]
    assert problems_of(result.rejects, 2) == {("high", "high is below max(open, close)")}
    # Without an adj_close column the clean frame still has one, empty.
    assert result.clean["adj_close"].isna().all()


def test_clean_rows_are_typed_and_sorted_by_ticker_then_date() -> None:
    raw = frame(
        bar(2, "2013-12-03", ticker="msft"),
        bar(3, "2013-12-02", ticker="MSFT"),
        bar(4, "2013-12-03", ticker="AAPL"),
    )

    result = validate_bars(raw, calendar="XNYS")

    clean = result.clean
    assert list(zip(clean["ticker"], clean["row"], strict=True)) == [
        ("AAPL", 4),
        ("MSFT", 3),
        ("MSFT", 2),
    ]
    for column in ("open", "high", "low", "close", "adj_close", "volume"):
        assert clean[column].dtype == np.float64
    assert clean.loc[0, "close"] == 10.5
    assert clean.loc[0, "adj_close"] == 10.4
    assert clean.loc[0, "volume"] == 1000.0


@pytest.mark.parametrize("symbol", ["BRK.B", "BRK-B", "^GSPC", "EURUSD=X", "RDS/A", "7203"])
def test_vendor_symbols_are_valid_tickers(symbol: str) -> None:
    result = validate_bars(frame(bar(2, "2013-12-02", ticker=symbol)), calendar="XNYS")

    assert result.rejects.empty
    assert list(result.clean["ticker"]) == [symbol]


def test_other_calendar_judges_sessions_by_its_own_holidays() -> None:
    # 26 December (Boxing Day) is a London holiday but a New York session.
    raw = frame(bar(2, "2013-12-24"), bar(3, "2013-12-26"), bar(4, "2013-12-27"))

    london = validate_bars(raw, calendar="XLON")
    new_york = validate_bars(raw, calendar="XNYS")

    assert list(london.clean["row"]) == [2, 4]
    assert problems_of(london.rejects, 3) == {
        ("date", "not a trading session of the XLON calendar")
    }
    assert new_york.rejects.empty
    # London's Christmas Eve closes at 12:30 GMT.
    assert london.clean["ts"].iloc[0] == pd.Timestamp("2013-12-24 12:30", tz="UTC")


def test_rejected_and_clean_rows_add_up_to_the_input() -> None:
    raw = frame(
        bar(2, "2013-12-02"),
        bar(3, "2013-12-03", open="abc", low="-1"),
        bar(4, "2013-12-04"),
        bar(5, "2013-12-04"),
        bar(6, "2013-12-05", close="10.6"),
        bar(7, "2013-12-05", close="10.7"),
        bar(8, "2013-12-07"),
    )

    result = validate_bars(raw, calendar="XNYS")

    assert result.input_rows == 7
    assert result.rejected_rows == 5
    assert result.rejected_rows + len(result.clean) == result.input_rows
    assert result.rejected_rows == result.rejects["row"].nunique()


def test_empty_input_gives_empty_results() -> None:
    raw = pd.DataFrame(columns=list(bar(1, "2013-12-02")))

    result = validate_bars(raw, calendar="XNYS")

    assert result.clean.empty
    assert result.rejects.empty
    assert tuple(result.rejects.columns) == REJECT_COLUMNS
    assert (result.input_rows, result.rejected_rows) == (0, 0)


def test_input_where_no_date_parses_rejects_every_row() -> None:
    raw = frame(bar(2, "soon"), bar(3, "later"))

    result = validate_bars(raw, calendar="XNYS")

    assert result.clean.empty
    assert result.rejected_rows == 2
    assert set(result.rejects["reason"]) == {"not a date"}


def test_infinite_price_is_rejected_and_neighbours_kept() -> None:
    result = validate_bars(with_bad_row(high="inf"), calendar="XNYS")

    assert list(result.clean["row"]) == [2, 4]
    assert set(result.rejects["row"]) == {3}


def test_date_with_a_mistyped_year_is_rejected_and_neighbours_kept() -> None:
    result = validate_bars(with_bad_row(date="0213-12-03"), calendar="XNYS")

    assert list(result.clean["row"]) == [2, 4]
    assert set(result.rejects["row"]) == {3}


def test_day_first_dates_are_read_day_first_when_one_value_can_only_be() -> None:
    # 14/01/2013 can only be day-first, so 01/02/2013 is 1 February, not 2 January.
    raw = frame(bar(2, "14/01/2013"), bar(3, "01/02/2013"))

    result = validate_bars(raw, calendar="XNYS")

    assert list(result.clean["date"]) == [pd.Timestamp("2013-01-14"), pd.Timestamp("2013-02-01")]


def test_garbage_first_date_does_not_change_how_the_other_dates_are_read() -> None:
    raw = frame(bar(2, "junk"), bar(3, "14/01/2013"), bar(4, "01/02/2013"))

    result = validate_bars(raw, calendar="XNYS")

    assert set(result.rejects["row"]) == {2}
    assert list(result.clean["date"]) == [pd.Timestamp("2013-01-14"), pd.Timestamp("2013-02-01")]


def test_one_value_past_12_decides_the_order_for_every_date_of_the_file() -> None:
    # 06/09/2017 alone could be June; 13/09/2017 can only be day-first, so both are September.
    raw = frame(bar(2, "06/09/2017"), bar(3, "13/09/2017"))

    result = validate_bars(raw, calendar="XNYS")

    assert result.rejects.empty
    assert list(result.clean["date"]) == [pd.Timestamp("2017-09-06"), pd.Timestamp("2017-09-13")]


def test_the_deciding_value_may_be_anywhere_in_the_file() -> None:
    days = [f"{d:02d}/09/2017" for d in (5, 6, 7, 8, 11, 12)] + ["13/09/2017"]
    raw = frame(*(bar(i + 2, day) for i, day in enumerate(days)))

    result = validate_bars(raw, calendar="XNYS")

    assert result.rejects.empty
    assert result.clean["date"].dt.month.eq(9).all()


def test_a_file_whose_dates_read_both_ways_is_refused_naming_the_option() -> None:
    raw = frame(bar(2, "06/09/2017"), bar(3, "07/09/2017"))

    with pytest.raises(InputFileError, match="--date-format") as refused:
        validate_bars(raw, calendar="XNYS")

    assert FILE in str(refused.value)


def test_a_file_mixing_day_first_and_month_first_dates_is_refused() -> None:
    raw = frame(bar(2, "13/09/2017"), bar(3, "09/14/2017"))

    with pytest.raises(InputFileError, match="mix layouts"):
        validate_bars(raw, calendar="XNYS")


def test_a_given_date_format_reads_an_undecidable_file() -> None:
    raw = frame(bar(2, "06/09/2017"), bar(3, "06/12/2017"))

    result = validate_bars(raw, calendar="XNYS", rules=BarRules(date_format="%m/%d/%Y"))

    assert list(result.clean["date"]) == [pd.Timestamp("2017-06-09"), pd.Timestamp("2017-06-12")]


def test_the_order_is_decided_for_each_file_on_its_own() -> None:
    raw = frame(
        bar(2, "13/09/2017", file="europe.csv"),
        bar(3, "06/09/2017", file="europe.csv"),
        bar(2, "09/13/2017", file="us.csv", ticker="MSFT"),
        bar(3, "06/09/2017", file="us.csv", ticker="MSFT"),
    )

    result = validate_bars(raw, calendar="XNYS")

    read = dict(
        zip(
            zip(result.clean["file"], result.clean["row"], strict=True),
            result.clean["date"],
            strict=True,
        )
    )
    assert read[("europe.csv", 3)] == pd.Timestamp("2017-09-06")
    assert read[("us.csv", 3)] == pd.Timestamp("2017-06-09")


def test_year_first_dates_are_never_read_year_day_month() -> None:
    assert decide_date_format(pd.Series(["2017/09/06", "2017/10/06"]), file=FILE) == "%Y/%m/%d"


def test_a_date_before_the_earliest_is_refused_with_the_setting_named() -> None:
    result = validate_bars(frame(bar(2, "1800-12-25"), bar(3, "2013-12-03")), calendar="XNYS")

    assert list(result.clean["row"]) == [3]
    assert problems_of(result.rejects, 2) == {
        ("date", "before 1900-01-01, the earliest date accepted (setting ingest_earliest_date)")
    }


def test_the_earliest_date_is_a_rule_the_caller_sets() -> None:
    raw = frame(bar(2, "1895-12-26"))

    default = validate_bars(raw, calendar="XNYS")
    older = validate_bars(raw, calendar="XNYS", rules=BarRules(earliest=date(1885, 1, 1)))

    assert default.clean.empty
    assert list(older.clean["row"]) == [2]


@pytest.mark.parametrize(
    ("field", "value", "rules"),
    [
        ("close", "1e308", BarRules()),
        ("high", "2e7", BarRules()),
        ("volume", "1e23", BarRules()),
        ("volume", "5000", BarRules(max_volume=1000)),
        ("adj_close", "1e308", BarRules()),
    ],
)
def test_an_implausible_value_is_rejected_with_its_limit(
    field: str, value: str, rules: BarRules
) -> None:
    result = validate_bars(with_bad_row(**{field: value}), calendar="XNYS", rules=rules)

    assert list(result.clean["row"]) == [2, 4]
    [(reported, reason)] = problems_of(result.rejects, 3)
    assert reported == field
    assert reason.startswith("above ")
    assert "the most plausible (setting ingest_max_" in reason


# --- property: every input row ends up in exactly one of clean and rejects -------------------

# Sessions, a holiday (2013-07-04) and a weekend day (2013-07-06), so duplicates and
# off-calendar dates both occur.
DATES = ["2013-07-01", "2013-07-02", "2013-07-03", "2013-07-04", "2013-07-05", "2013-07-06"]
CORRUPTIONS: list[dict[str, Any]] = [
    {},
    {"date": "31/31/2013"},
    {"open": "abc"},
    {"close": ""},
    {"volume": np.nan},
    {"low": "0"},
    {"volume": "-1"},
    {"high": "9.5"},
    {"low": "10.2"},
    {"ticker": "NOT VALID"},
    {"ticker": None},
]


@st.composite
def raw_bars(draw: st.DrawFn) -> pd.DataFrame:
    count = draw(st.integers(min_value=1, max_value=25))
    rows = []
    for position in range(count):
        overrides = dict(draw(st.sampled_from(CORRUPTIONS)))
        overrides.setdefault("ticker", draw(st.sampled_from(["AAPL", "MSFT"])))
        overrides.setdefault("close", draw(st.sampled_from(["10.5", "10.6"])))
        date = overrides.pop("date", draw(st.sampled_from(DATES)))
        rows.append(bar(position + 2, date, **overrides))
    return frame(*rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_bars())
def test_every_row_is_either_clean_or_rejected_never_both_never_neither(
    raw: pd.DataFrame,
) -> None:
    result = validate_bars(raw, calendar="XNYS")

    clean_rows = set(result.clean["row"])
    rejected = set(result.rejects["row"])
    assert clean_rows.isdisjoint(rejected)
    assert clean_rows | rejected == set(raw["row"])
    assert len(clean_rows) == len(result.clean)
    assert result.rejected_rows == len(rejected)
    assert result.rejected_rows + len(result.clean) == result.input_rows == len(raw)
    assert not result.clean.duplicated(["ticker", "date"]).any()


def test_bar_of_a_session_that_has_not_closed_yet_is_rejected_and_neighbours_kept() -> None:
    raw = frame(bar(2, "2013-12-02"), bar(3, "2013-12-03"), bar(4, "2013-12-04"))
    # 2013-12-03 closes at 21:00 UTC; at 20:59 that bar cannot exist yet.
    now = pd.Timestamp("2013-12-03 20:59", tz="UTC")

    result = validate_bars(raw, calendar="XNYS", now=now)

    assert list(result.clean["row"]) == [2]
    assert set(result.rejects["row"]) == {3, 4}
    assert result.rejects["reason"].str.contains("not closed yet").all()


def test_zero_open_is_reported_once_not_again_as_a_range_failure() -> None:
    # Yahoo's ^GSPC history carries open = 0.0 for 1962-1982; low is then "above" min(open, close).
    result = validate_bars(with_bad_row(open="0.0"), calendar="XNYS")

    row = result.rejects[result.rejects["row"] == 3]
    assert list(row["field"]) == ["open"]
    assert list(row["reason"]) == ["must be greater than 0"]


# -- over-long values --------------------------------------------------------------------------


def test_line_that_lost_its_commas_is_one_report_line_with_a_shortened_value() -> None:
    # A line without its separators: megabytes in the date field, every other field missing.
    huge = "x" * 5_000_000
    gone = dict.fromkeys(("open", "high", "low", "close", "volume", "adj_close"), np.nan)

    result = validate_bars(with_bad_row(date=huge, **gone), calendar="XNYS")

    line = result.rejects[result.rejects["row"] == 3]
    assert len(line) == 1
    assert line["field"].item() == "date"
    assert line["value"].item() == "x" * 40 + "… (5,000,000 chars)"
    # The context columns hold the preview too, not the raw value once more.
    assert line["date"].item() == line["value"].item()
    assert "more than the 256 a value may have (setting ingest_max_field_chars)" in (
        line["reason"].item()
    )
    assert result.rejected_rows == 1
    assert list(result.clean["row"]) == [2, 4]
    assert result.rejects.to_csv(index=False).__len__() < 1_000


def test_over_long_values_in_several_fields_of_a_row_give_one_line_and_no_raw_copy() -> None:
    raw = with_bad_row(ticker="A" * 10_000, close="9" * 20_000, volume="1" * 300)

    result = validate_bars(raw, calendar="XNYS")

    line = result.rejects[result.rejects["row"] == 3]
    assert list(line["field"]) == ["ticker"]
    assert line["ticker"].item() == "A" * 40 + "… (10,000 chars)"
    assert line["reason"].item().startswith("10,000 characters")
    assert result.rejects.astype(str).map(len).to_numpy().max() < 120


def test_value_at_the_field_limit_is_judged_as_usual_and_one_past_it_is_over_long() -> None:
    raw = frame(
        bar(2, "2013-12-02"),
        bar(3, "2013-12-03", volume="0000001000"),  # 10 characters: a valid volume
        bar(4, "2013-12-04", volume="00000001000"),  # 11
    )

    result = validate_bars(raw, calendar="XNYS", rules=BarRules(max_field_chars=10))

    assert list(result.clean["row"]) == [2, 3]
    assert problems_of(result.rejects, 4) == {
        ("volume", "11 characters, more than the 10 a value may have (setting "
         "ingest_max_field_chars)")
    }  # fmt: skip
    assert result.rejects["value"].item() == "00000001000"[:40] + "… (11 chars)"


def test_over_long_value_does_not_change_how_the_other_dates_of_the_file_are_read() -> None:
    # Stripped and parsed, the first value would read as day-first (13 is no month) and steer
    # the file's other dates, which are month-first.
    raw = frame(
        bar(2, "13/12/2013" + " " * 300),
        bar(3, "12/13/2013"),
        bar(4, "12/16/2013"),
    )

    result = validate_bars(raw, calendar="XNYS")

    assert list(result.clean["date"].dt.strftime("%Y-%m-%d")) == ["2013-12-13", "2013-12-16"]
    assert problems_of(result.rejects, 2) == {
        ("date", "310 characters, more than the 256 a value may have (setting "
         "ingest_max_field_chars)")
    }  # fmt: skip

"""Trading calendars: sessions, UTC closes (early closes and DST), and unknown names."""

from __future__ import annotations

import pandas as pd
import pytest

from stockpred.domain.calendar import TradingCalendar, get_trading_calendar, known_calendars
from stockpred.domain.errors import ConfigurationError


def nyse_2013() -> TradingCalendar:
    return get_trading_calendar("XNYS", pd.Timestamp("2013-01-02"), pd.Timestamp("2013-12-31"))


def days(*values: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(values)))


def test_sessions_skip_weekends_and_independence_day() -> None:
    sessions = nyse_2013().sessions_between(pd.Timestamp("2013-07-01"), pd.Timestamp("2013-07-07"))

    assert list(sessions) == list(days("2013-07-01", "2013-07-02", "2013-07-03", "2013-07-05"))


def test_calendar_covers_at_least_the_requested_range() -> None:
    calendar = nyse_2013()

    assert calendar.first_session <= pd.Timestamp("2013-01-02")
    assert calendar.last_session >= pd.Timestamp("2013-12-31")


def test_is_session_marks_holidays_and_weekends_false() -> None:
    flags = nyse_2013().is_session(days("2013-07-03", "2013-07-04", "2013-07-06", "2013-12-25"))

    assert list(flags) == [True, False, False, False]


@pytest.mark.parametrize(
    ("session", "close_utc"),
    [
        ("2013-01-02", "2013-01-02 21:00"),  # 16:00 EST
        ("2013-07-15", "2013-07-15 20:00"),  # 16:00 EDT
        ("2013-07-03", "2013-07-03 17:00"),  # early close 13:00 EDT
        ("2013-11-29", "2013-11-29 18:00"),  # early close 13:00 EST
        ("2013-12-24", "2013-12-24 18:00"),  # early close 13:00 EST
        ("2013-11-01", "2013-11-01 20:00"),  # last Friday of EDT
        ("2013-11-04", "2013-11-04 21:00"),  # first Monday of EST
    ],
)
def test_session_close_is_in_utc_with_early_closes_and_daylight_saving(
    session: str, close_utc: str
) -> None:
    (close,) = nyse_2013().session_closes(days(session))

    assert close == pd.Timestamp(close_utc, tz="UTC")
    assert str(close.tz) == "UTC"


def test_close_of_a_non_session_raises_and_names_the_date() -> None:
    with pytest.raises(ConfigurationError, match=r"2013-07-04.*is_session"):
        nyse_2013().session_closes(days("2013-07-03", "2013-07-04"))


def test_session_dates_turn_utc_closes_back_into_local_dates() -> None:
    calendar = nyse_2013()
    sessions = days("2013-07-03", "2013-11-29", "2013-12-02")

    closes = pd.Series(calendar.session_closes(sessions))

    assert list(calendar.session_dates(closes)) == list(sessions)


def test_missing_sessions_are_the_sessions_between_first_and_last_not_given() -> None:
    given = days("2013-07-01", "2013-07-05", "2013-07-09")

    missing = nyse_2013().missing_sessions(given)

    assert list(missing) == list(days("2013-07-02", "2013-07-03", "2013-07-08"))


def test_no_dates_miss_no_sessions() -> None:
    assert len(nyse_2013().missing_sessions(pd.DatetimeIndex([]))) == 0


def test_calendar_name_is_case_insensitive() -> None:
    calendar = get_trading_calendar("xnys", pd.Timestamp("2013-07-01"), pd.Timestamp("2013-07-31"))

    assert calendar.name == "XNYS"
    assert not bool(calendar.is_session(days("2013-07-04")).iloc[0])


def test_london_has_its_own_holidays_and_close() -> None:
    london = get_trading_calendar("XLON", pd.Timestamp("2013-12-01"), pd.Timestamp("2013-12-31"))

    assert list(london.is_session(days("2013-12-26", "2013-12-27"))) == [False, True]
    # London closes at 16:30 GMT in winter.
    assert london.session_closes(days("2013-12-27"))[0] == pd.Timestamp(
        "2013-12-27 16:30", tz="UTC"
    )


def test_unknown_calendar_raises_configuration_error_saying_what_to_use() -> None:
    with pytest.raises(ConfigurationError) as caught:
        get_trading_calendar("NYSE-ISH", pd.Timestamp("2013-01-02"), pd.Timestamp("2013-12-31"))

    message = str(caught.value)
    assert "NYSE-ISH" in message
    assert "ISO MIC" in message
    assert "XNYS" in message
    assert caught.value.__cause__ is not None


def test_known_calendars_list_the_major_exchanges() -> None:
    names = known_calendars()

    assert {"XNYS", "XLON", "XTKS"} <= set(names)
    assert names == sorted(names)


def test_nasdaq_is_accepted_though_it_is_an_alias_of_new_york() -> None:
    nasdaq = get_trading_calendar("XNAS", pd.Timestamp("2013-07-01"), pd.Timestamp("2013-07-31"))

    assert list(nasdaq.is_session(days("2013-07-03", "2013-07-04"))) == [True, False]

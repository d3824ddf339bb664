"""Trading calendars: which dates are sessions and when each session closes, in UTC.

A thin, typed layer over ``exchange_calendars``. It never reads the clock: the date range is
always passed in, so the same inputs give the same sessions on any day.
"""

from __future__ import annotations

from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from stockpred.domain.errors import ConfigurationError

__all__ = ["TradingCalendar", "get_trading_calendar", "known_calendars"]

# exchange_calendars needs a little room on both sides of the requested range.
_PAD = pd.Timedelta(days=7)


def known_calendars() -> list[str]:
    """Names accepted by :func:`get_trading_calendar` (ISO MIC codes such as ``XNYS``)."""
    return sorted(xcals.get_calendar_names(include_aliases=True))


class TradingCalendar:
    """Sessions of one exchange over a fixed range of dates.

    Dates are timezone-naive midnight timestamps naming the session's local date; closes are
    UTC-aware timestamps of the session's (possibly early) close.
    """

    def __init__(self, name: str, schedule: pd.DataFrame) -> None:
        self.name = name
        self._schedule = schedule
        self._sessions = pd.DatetimeIndex(schedule.index)

    @property
    def first_session(self) -> pd.Timestamp:
        return pd.Timestamp(self._sessions[0])

    @property
    def last_session(self) -> pd.Timestamp:
        return pd.Timestamp(self._sessions[-1])

    def sessions_between(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
        """Session dates in ``[start, end]`` (both inclusive, naive dates)."""
        return self._sessions[(self._sessions >= start) & (self._sessions <= end)]

    def is_session(self, dates: pd.DatetimeIndex) -> pd.Series[bool]:
        """Whether each naive date is a session of this exchange; shape (n,)."""
        return pd.Series(dates.isin(self._sessions), index=range(len(dates)))

    def session_closes(self, dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """UTC close of each session date. Every date must be a session (check first)."""
        closes = self._schedule["close"].reindex(dates)
        if bool(closes.isna().any()):
            bad = dates[closes.isna().to_numpy()][:3]
            raise ConfigurationError(
                f"{[d.date().isoformat() for d in bad]} are not {self.name} sessions; "
                "filter with is_session() before asking for closes"
            )
        return pd.DatetimeIndex(closes).tz_convert("UTC")

    def session_dates(self, closes: pd.Series[pd.Timestamp]) -> pd.DatetimeIndex:
        """The local session date of each UTC close timestamp."""
        local = pd.DatetimeIndex(closes).tz_convert(self._tz)
        return local.normalize().tz_localize(None)

    @property
    def _tz(self) -> str:
        return str(self._schedule["close"].dt.tz) if len(self._schedule) else "UTC"

    def session_bounds(self, ts: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The UTC open and close of the session that a bar closing at ``ts`` (UTC-aware)
        belongs to: ``open < ts <= close``; None outside every session (a weekend, a holiday,
        before the open or after the close: extended hours)."""
        day = pd.Timestamp(ts).tz_convert(self._tz).normalize().tz_localize(None)
        if day not in self._sessions:
            return None
        position = self._sessions.searchsorted(day)
        opened: pd.Timestamp = self._schedule["open"].iloc[position]
        closed: pd.Timestamp = self._schedule["close"].iloc[position]
        if not opened < ts <= closed:
            return None
        return opened.tz_convert("UTC"), closed.tz_convert("UTC")

    def missing_sessions(self, dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """Sessions between the first and last of ``dates`` that ``dates`` does not contain."""
        if len(dates) == 0:
            return pd.DatetimeIndex([])
        expected = self.sessions_between(dates.min(), dates.max())
        return expected.difference(dates)


@lru_cache(maxsize=32)
def _load(name: str, start: pd.Timestamp, end: pd.Timestamp) -> TradingCalendar:
    try:
        calendar = xcals.get_calendar(name, start=start, end=end)
    except xcals.errors.InvalidCalendarName as exc:
        raise ConfigurationError(
            f"unknown trading calendar {name!r}; use an ISO MIC code such as XNYS, XNAS, XLON "
            f"(all {len(known_calendars())} names: python -c 'import exchange_calendars as x; "
            "print(x.get_calendar_names())')"
        ) from exc
    schedule = calendar.schedule.loc[:, ["open", "close"]].copy()
    for column in ("open", "close"):
        schedule[column] = schedule[column].dt.tz_convert(str(calendar.tz))
    return TradingCalendar(name, schedule)


def get_trading_calendar(name: str, start: pd.Timestamp, end: pd.Timestamp) -> TradingCalendar:
    """The calendar ``name`` covering at least ``[start, end]`` (naive dates).

    Ranges are widened to whole years so nearby requests share one cached calendar.
    """
    lo = pd.Timestamp(year=(start - _PAD).year, month=1, day=1)
    hi = pd.Timestamp(year=(end + _PAD).year, month=12, day=31)
    return _load(name.upper(), lo, hi)

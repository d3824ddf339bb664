"""Which exchange session an intraday bar belongs to, and when that session closes."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from stockpred.domain.calendar import TradingCalendar, get_trading_calendar

__all__ = ["SessionClock"]


class SessionClock:
    """The sessions of one exchange calendar (``XNYS`` by default), loaded a few years at a
    time as bars ask for them."""

    def __init__(self, calendar: str = "XNYS") -> None:
        self.calendar = calendar
        self._loaded: dict[int, TradingCalendar] = {}
        self._bounds: dict[datetime, tuple[datetime, datetime] | None] = {}

    def session_of(self, ts: datetime) -> tuple[datetime, datetime] | None:
        """The UTC open and close of the session of a bar closing at ``ts``; None outside
        every session (extended hours, a weekend, a holiday)."""
        if ts in self._bounds:
            return self._bounds[ts]
        stamp = pd.Timestamp(ts).tz_convert("UTC")
        year = stamp.year
        calendar = self._loaded.get(year)
        if calendar is None:
            start = pd.Timestamp(year=year, month=1, day=1)
            calendar = get_trading_calendar(self.calendar, start, start + pd.DateOffset(years=1))
            self._loaded[year] = calendar
        bounds = calendar.session_bounds(stamp)
        found = None if bounds is None else (bounds[0].to_pydatetime(), bounds[1].to_pydatetime())
        if len(self._bounds) >= 100_000:
            self._bounds.clear()  # bars come in time order: the old stamps are not asked again
        self._bounds[ts] = found
        return found

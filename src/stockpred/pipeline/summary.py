"""What the store holds, per ticker, measured against the exchange calendar."""

from __future__ import annotations

import pandas as pd

from stockpred.domain.calendar import get_trading_calendar
from stockpred.store.base import Store

__all__ = ["SUMMARY_COLUMNS", "summarise_bars"]

SUMMARY_COLUMNS: tuple[str, ...] = (
    "ticker",
    "first",
    "last",
    "rows",
    "missing_sessions",
    "sources",
)


def summarise_bars(store: Store, *, calendar: str) -> pd.DataFrame:
    """Per ticker: first and last session date, rows, sessions missing in between, sources.

    Every stored bar is a session (ingestion rejects the rest), so the missing count is the
    number of sessions between first and last minus the rows.
    """
    coverage = store.bar_coverage()
    if coverage.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    first_ts = pd.DatetimeIndex(coverage["first"])
    last_ts = pd.DatetimeIndex(coverage["last"])
    # UTC dates are within a day of the local session dates; the calendar is padded anyway.
    cal = get_trading_calendar(
        calendar,
        first_ts.min().tz_convert(None).normalize(),
        last_ts.max().tz_convert(None).normalize(),
    )
    first = cal.session_dates(pd.Series(first_ts))
    last = cal.session_dates(pd.Series(last_ts))
    expected = [len(cal.sessions_between(lo, hi)) for lo, hi in zip(first, last, strict=True)]
    rows = coverage["rows"].astype(int)
    return pd.DataFrame(
        {
            "ticker": coverage["ticker"],
            "first": first,
            "last": last,
            "rows": rows,
            "missing_sessions": (pd.Series(expected) - rows).clip(lower=0),
            "sources": coverage["sources"],
        }
    )

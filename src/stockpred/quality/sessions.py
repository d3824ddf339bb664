"""Coverage of each ticker's history against its exchange calendar: the sessions it is missing.

Missing sessions are reported, never filled: a gap is a fact about the data a model must see.
"""

from __future__ import annotations

import pandas as pd

from stockpred.domain.calendar import get_trading_calendar

__all__ = ["COVERAGE_COLUMNS", "summarise_coverage"]

COVERAGE_COLUMNS: tuple[str, ...] = (
    "ticker",
    "first",
    "last",
    "rows",
    "missing_sessions",
    "first_missing",
)


def summarise_coverage(dates: pd.DataFrame, *, calendar: str, show: int = 3) -> pd.DataFrame:
    """Per ticker: first and last session, rows, and how many sessions in between are missing.

    dates: columns ticker and date (naive session dates). ``first_missing`` lists up to ``show``
    of the missing dates, ISO formatted and comma separated.
    """
    if dates.empty:
        return pd.DataFrame(columns=list(COVERAGE_COLUMNS))
    lo, hi = dates["date"].min(), dates["date"].max()
    cal = get_trading_calendar(calendar, pd.Timestamp(lo), pd.Timestamp(hi))
    records = []
    for ticker, group in dates.groupby("ticker", sort=True):
        index = pd.DatetimeIndex(group["date"]).unique()
        missing = cal.missing_sessions(index)
        records.append(
            {
                "ticker": ticker,
                "first": index.min(),
                "last": index.max(),
                "rows": len(group),
                "missing_sessions": len(missing),
                "first_missing": ", ".join(d.date().isoformat() for d in missing[:show]),
            }
        )
    return pd.DataFrame.from_records(records, columns=list(COVERAGE_COLUMNS))

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
    sessions = cal.sessions_between(pd.Timestamp(lo), pd.Timestamp(hi))
    per_ticker = dates.groupby("ticker", sort=True)["date"].agg(["min", "max", "size", "nunique"])
    # Sessions between first and last, counted by position in the session index.
    expected = sessions.searchsorted(per_ticker["max"], side="right") - sessions.searchsorted(
        per_ticker["min"], side="left"
    )
    missing = (expected - per_ticker["nunique"].to_numpy()).clip(min=0)
    first_missing = [""] * len(per_ticker)
    for i in (missing > 0).nonzero()[0]:
        ticker = per_ticker.index[i]
        held = pd.DatetimeIndex(dates.loc[dates["ticker"] == ticker, "date"]).unique()
        gaps = cal.missing_sessions(held)
        first_missing[i] = ", ".join(d.date().isoformat() for d in gaps[:show])
    return pd.DataFrame(
        {
            "ticker": per_ticker.index.to_numpy(),
            "first": per_ticker["min"].to_numpy(),
            "last": per_ticker["max"].to_numpy(),
            "rows": per_ticker["size"].to_numpy(),
            "missing_sessions": missing,
            "first_missing": first_missing,
        },
        columns=list(COVERAGE_COLUMNS),
    )

"""The universe table: every served ticker's forecast, best expected return first, the
stream's forecasts taking the place of the REST answer's as they arrive.

Kept out of the page script: Streamlit runs a page's file anew on every rerun, so a class
defined there is a new class each time and what a session keeps of it would no longer match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from stockpred.dashboard.client import BatchResult
from stockpred.dashboard.live import LiveForecast
from stockpred.dashboard.records import Forecast

__all__ = ["Fetched", "ranked"]


@dataclass(frozen=True, slots=True)
class Fetched:
    """A REST answer of the batch route: for which horizon and when it was fetched."""

    horizon: int
    at: datetime
    result: BatchResult


def ranked(
    forecasts: Sequence[Forecast],
    live: dict[tuple[str, int], LiveForecast],
    *,
    horizon: int,
    fetched_at: datetime,
) -> pd.DataFrame:
    """One row per ticker, best expected return first: the REST forecast, replaced by the
    stream's when that arrived after the REST answer or is for a later session."""
    chosen: dict[str, tuple[Forecast, str]] = {f.ticker: (f, "REST") for f in forecasts}
    for (ticker, h), entry in live.items():
        if h != horizon:
            continue
        held = chosen.get(ticker)
        if held is None or entry.received_at > fetched_at or entry.forecast.as_of > held[0].as_of:
            chosen[ticker] = (entry.forecast, "stream")
    rows = [
        {
            "ticker": f.ticker,
            "expected_return": f.log_return,
            "last_close": f.last_close,
            "price_target": f.price,
            "low": f.price_low,
            "high": f.price_high,
            "interval": _interval(f),
            "direction_prob": f.direction_prob,
            "model": f"{f.model_kind} v{f.model_version}",
            "as_of": f.as_of,
            "sessions_behind": f.sessions_behind,
            "stale": f.stale,
            "freshness": f"stale ({f.sessions_behind} behind)" if f.stale else "fresh",
            "provisional": f.provisional,
            "source": f"{source}, provisional" if f.provisional else source,
        }
        for f, source in chosen.values()
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values(["expected_return", "ticker"], ascending=[False, True])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def _interval(forecast: Forecast) -> str:
    low, high = forecast.price_low, forecast.price_high
    if low is None or high is None:
        return ""
    return f"{low:,.2f} to {high:,.2f}"

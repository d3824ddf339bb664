"""Domain bars to and from frames of the bars contract (DESIGN.md's data contracts)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from stockpred.domain.records import BAR_COLUMNS, Bar

__all__ = ["bars_frame", "bars_of"]


def bars_frame(bars: Sequence[Bar]) -> pd.DataFrame:
    """Session bars as the bars contract's frame."""
    frame = pd.DataFrame([{c: getattr(b, c) for c in BAR_COLUMNS} for b in bars])
    for column in ("ts", "ingested_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def bars_of(frame: pd.DataFrame) -> list[Bar]:
    """Domain bars of a frame of the bars contract (a stored history), in its order; without
    ``source``, ``ingested_at`` or ``interval`` columns a bar is the store's, seen at its
    close, of a session."""
    n = len(frame)
    adj = frame["adj_close"] if "adj_close" in frame.columns else pd.Series(np.nan, frame.index)
    stamps = pd.to_datetime(frame["ts"], utc=True)
    seen = pd.to_datetime(frame["ingested_at"], utc=True) if "ingested_at" in frame else stamps
    sources = frame["source"] if "source" in frame.columns else ["store"] * n
    intervals = frame["interval"] if "interval" in frame.columns else ["1d"] * n
    return [
        Bar(
            ticker=str(ticker),
            ts=ts.to_pydatetime(),
            open=float(o),
            high=float(h),
            low=float(lo),
            close=float(c),
            adj_close=None if pd.isna(a) else float(a),
            volume=float(v),
            source=str(source),
            ingested_at=at.to_pydatetime(),
            interval=str(interval),
        )
        for ticker, ts, o, h, lo, c, a, v, source, at, interval in zip(
            frame["ticker"],
            stamps,
            frame["open"],
            frame["high"],
            frame["low"],
            frame["close"],
            adj,
            frame["volume"],
            sources,
            seen,
            intervals,
            strict=True,
        )
    ]

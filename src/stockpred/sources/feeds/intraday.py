"""Intraday bars for a replay: read from a file, or split from daily bars for a demo.

A file of intraday bars is any bar file ``read_bar_file`` takes (CSV, gzipped CSV or Parquet;
Yahoo, long or mapped columns) whose date column holds times with their UTC offset
(``2024-03-01T14:31:00Z``, ``2024-03-01 09:31:00-05:00``): each time is the bar's close. A
ticker's interval is the most common spacing of its bars (``1m``, ``5m``, ``1h``...).

``split_session`` makes a daily bar into intraday bars whose session so far, folded to the
close, is the daily bar itself (open, high, low, close and volume exactly): a synthetic path
(open, then the nearer extreme, the other one, the close), for demos and load tests, never for
research.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import InputFileError, InvalidInputError
from stockpred.domain.frames import bars_of
from stockpred.domain.records import Bar
from stockpred.sources.files import read_bar_file

__all__ = [
    "interval_of",
    "parse_interval",
    "read_intraday_bars",
    "split_last_sessions",
    "split_session",
]

_UNITS = {"m": 60, "h": 3600}


def parse_interval(text: str) -> timedelta:
    """``"5m"`` -> 5 minutes; ``"1h"`` -> an hour (intraday lengths only)."""
    unit = text[-1:].lower()
    count = text[:-1]
    if unit not in _UNITS or not count.isdigit() or int(count) <= 0:
        raise InvalidInputError(
            f"{text!r} is not an intraday interval; use minutes or hours, e.g. 1m, 5m, 15m, 1h"
        )
    return timedelta(seconds=int(count) * _UNITS[unit])


def interval_of(every: timedelta) -> str:
    """The name of an intraday length: 300 s -> ``"5m"``."""
    seconds = int(every.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def split_session(bar: Bar, *, opened: datetime, every: timedelta) -> list[Bar]:
    """``bar`` (a session, closing at ``bar.ts``, opened at ``opened``) as intraday bars of
    ``every``, the last closing at the session's close (see the module docstring)."""
    span = bar.ts - opened
    n = max(1, math.ceil(span / every))
    stamps = [min(opened + every * (i + 1), bar.ts) for i in range(n)]
    path = _path(bar, n)
    volume = float(bar.volume)
    each = math.floor(volume / n) if math.isfinite(volume) else volume
    factor = (
        None if bar.adj_close is None or not bar.close else float(bar.adj_close) / float(bar.close)
    )
    interval = interval_of(every)
    out: list[Bar] = []
    previous = float(bar.open)
    for i, (ts, close) in enumerate(zip(stamps, path, strict=True)):
        last = i == n - 1
        out.append(
            dataclasses.replace(
                bar,
                ts=ts,
                open=previous,
                high=max(previous, close),
                low=min(previous, close),
                close=close,
                adj_close=bar.adj_close if last or factor is None else close * factor,
                volume=volume - each * (n - 1) if last else each,
                ingested_at=ts,
                interval=interval,
            )
        )
        previous = close
    # The extremes are reached on the path's closes; the first bar's open is the session's.
    return out


def split_last_sessions(
    bars: Sequence[Bar], *, every: timedelta, sessions: int | None = None, calendar: str = "XNYS"
) -> list[Bar]:
    """``bars`` (daily) with those of the last ``sessions`` closes (every close without it)
    split into intraday bars of ``every`` (``split_session``), sorted by time and ticker; a bar
    whose close is not a session close of ``calendar`` stays as it is."""
    closes = sorted({b.ts for b in bars})
    split = set(closes if sessions is None else closes[-sessions:] if sessions > 0 else [])
    if not closes:
        return []
    first, last = pd.Timestamp(closes[0]), pd.Timestamp(closes[-1])
    cal = get_trading_calendar(calendar, first.tz_localize(None), last.tz_localize(None))
    out: list[Bar] = []
    for bar in bars:
        bounds = cal.session_bounds(pd.Timestamp(bar.ts)) if bar.ts in split else None
        if bounds is None or bounds[1] != pd.Timestamp(bar.ts):
            out.append(bar)
            continue
        out += split_session(bar, opened=bounds[0].to_pydatetime(), every=every)
    return sorted(out, key=lambda b: (b.ts, b.ticker))


def _path(bar: Bar, n: int) -> list[float]:
    """``n`` closes from the open through both extremes to the close (the nearer one first)."""
    o, h, lo, c = (float(x) for x in (bar.open, bar.high, bar.low, bar.close))
    if n < 3:
        return [h, c] if n == 2 and h - o >= o - lo else ([lo, c] if n == 2 else [c])
    first, second = (lo, h) if o - lo <= h - o else (h, lo)
    a, b = max(1, n // 3), max(2, (2 * n) // 3)
    points = np.interp(np.arange(1, n + 1), [0, a, b, n], [o, first, second, c])
    closes = [float(x) for x in points]
    closes[a - 1], closes[b - 1], closes[-1] = first, second, c
    return closes


def read_intraday_bars(
    path: Path,
    *,
    ticker: str | None = None,
    columns: Mapping[str, str] | None = None,
    source: str = "file",
) -> list[Bar]:
    """The intraday bars of a file (see the module docstring), sorted by time and ticker.
    Whole-file and row problems raise :class:`InputFileError` naming the file and row."""
    frame = read_bar_file(path, ticker=ticker, columns=columns).frame
    stamps = _stamps(frame, path)
    prices = {}
    for name in ("open", "high", "low", "close", "volume"):
        if name not in frame.columns:
            raise InputFileError(f"{path.name} lacks the column {name!r} an intraday bar needs")
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = values.isna()
        if bool(bad.any()):
            row = int(frame.loc[bad, "row"].iloc[0])
            value = frame[name][bad].iloc[0]
            raise InputFileError(f"{path.name}, row {row}: {name} {value!r} is not a number")
        prices[name] = values.to_numpy(dtype=np.float64)
    wrong = (prices["high"] < prices["low"]) | (prices["volume"] < 0)
    if bool(wrong.any()):
        row = int(frame["row"].to_numpy()[np.argmax(wrong)])
        raise InputFileError(f"{path.name}, row {row}: high under low, or a negative volume")
    tickers = frame["ticker"].astype(str).str.upper().to_numpy()
    keyed = pd.DataFrame({"ticker": tickers, "ts": stamps})
    duplicated = keyed.duplicated(keep="first").to_numpy()
    if bool(duplicated.any()):
        first = int(np.argmax(duplicated))
        row = int(frame["row"].to_numpy()[first])
        raise InputFileError(
            f"{path.name}, row {row}: a second bar of {tickers[first]} at "
            f"{pd.Timestamp(stamps[first]).isoformat()}"
        )
    intervals = _spacing(keyed, path)
    adj = (
        pd.to_numeric(frame["adj_close"], errors="coerce").to_numpy(dtype=np.float64)
        if "adj_close" in frame.columns
        else np.full(len(frame), np.nan)
    )
    bars = bars_of(
        pd.DataFrame(
            {
                "ticker": tickers,
                "ts": stamps,
                **prices,
                "adj_close": adj,
                "source": source,
                "ingested_at": stamps,
                "interval": intervals,
            }
        )
    )
    return sorted(bars, key=lambda b: (b.ts, b.ticker))


def _stamps(frame: pd.DataFrame, path: Path) -> pd.DatetimeIndex:
    """The date column as UTC times; a time without its offset is ambiguous and refused."""
    text = frame["date"].astype(str)
    has_offset = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    if not bool(has_offset.all()):
        row = int(frame.loc[~has_offset, "row"].iloc[0])
        raise InputFileError(
            f"{path.name}, row {row}: {text[~has_offset].iloc[0]!r} has no UTC offset, so its "
            "time is ambiguous; write it as 2024-03-01T14:31:00Z or 2024-03-01 09:31:00-05:00"
        )
    try:
        return pd.DatetimeIndex(pd.to_datetime(text, utc=True, format="ISO8601"))
    except (ValueError, TypeError) as exc:
        raise InputFileError(f"{path.name}: a time is not ISO 8601: {exc}") from exc


def _spacing(keyed: pd.DataFrame, path: Path) -> np.ndarray:
    """Each bar's interval: the most common spacing of its ticker's bars."""
    out = np.empty(len(keyed), dtype=object)
    for _, rows in keyed.groupby("ticker", sort=False):
        steps = rows["ts"].sort_values().diff().dropna()
        steps = steps[steps > pd.Timedelta(0)]
        if steps.empty:
            raise InputFileError(
                f"{path.name}: one bar of {rows['ticker'].iloc[0]} gives no spacing to take its "
                "interval from; give each ticker two bars or more"
            )
        out[rows.index.to_numpy()] = interval_of(steps.mode().iloc[0].to_pytimedelta())
    return out

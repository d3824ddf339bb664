"""Test support: intraday answers in the providers' real formats, for the polling feed.

Yahoo's chart endpoint asked with ``interval=1m`` stamps each bar with its start (Unix seconds),
pads a minute without trades with nulls and lists the bar still forming last; Alpha Vantage's
TIME_SERIES_INTRADAY keys each bar by its start in New York time, newest first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

_EASTERN = ZoneInfo("America/New_York")


def price(start: datetime) -> float:
    """A close that tells its minute: 100 + minutes since midnight UTC / 1000."""
    return round(100 + (start.hour * 60 + start.minute) / 1000, 6)


def yahoo_chart(symbol: str, starts: Sequence[datetime | None], *, granularity: str = "1m") -> str:
    """A chart answer with a bar per start; ``None`` in place of a start is a minute without
    trades (its stamp one minute after the previous one, its prices null)."""
    stamps: list[int] = []
    quote: dict[str, list[float | None]] = {k: [] for k in ("open", "high", "low", "close")}
    volumes: list[int | None] = []
    for start in starts:
        if start is None:
            stamps.append(stamps[-1] + 60)
            for values in quote.values():
                values.append(None)
            volumes.append(None)
            continue
        stamps.append(int(start.timestamp()))
        close = price(start)
        quote["open"].append(close - 0.01)
        quote["high"].append(close + 0.02)
        quote["low"].append(close - 0.02)
        quote["close"].append(close)
        volumes.append(1000 + start.minute)
    result = {
        "meta": {
            "currency": "USD",
            "symbol": symbol,
            "exchangeName": "NMS",
            "instrumentType": "EQUITY",
            "gmtoffset": -18000,
            "timezone": "EST",
            "exchangeTimezoneName": "America/New_York",
            "dataGranularity": granularity,
            "range": "1d",
        },
        "timestamp": stamps,
        "indicators": {"quote": [{**quote, "volume": volumes}]},
    }
    return json.dumps({"chart": {"result": [result], "error": None}})


def alpha_intraday(symbol: str, starts: Sequence[datetime], *, interval: str = "1min") -> str:
    """A TIME_SERIES_INTRADAY answer with a bar per start, newest first as Alpha Vantage sends."""
    series = {}
    for start in sorted(starts, reverse=True):
        close = price(start)
        series[start.astimezone(_EASTERN).strftime("%Y-%m-%d %H:%M:%S")] = {
            "1. open": f"{close - 0.01:.4f}",
            "2. high": f"{close + 0.02:.4f}",
            "3. low": f"{close - 0.02:.4f}",
            "4. close": f"{close:.4f}",
            "5. volume": str(1000 + start.minute),
        }
    meta = {
        "1. Information": f"Intraday ({interval}) open, high, low, close prices and volume",
        "2. Symbol": symbol,
        "3. Last Refreshed": max(series),
        "4. Interval": interval,
        "5. Output Size": "Compact",
        "6. Time Zone": "US/Eastern",
    }
    return json.dumps({"Meta Data": meta, f"Time Series ({interval})": series})

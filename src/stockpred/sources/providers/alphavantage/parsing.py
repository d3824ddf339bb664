"""Alpha Vantage's JSON, and its refusals, which arrive with HTTP 200.

``{"Error Message": ...}`` is an invalid call (an unknown symbol) or a missing/invalid key;
``{"Note": ...}`` and ``{"Information": ...}`` are the per-minute and per-day quota messages, or a
premium-only endpoint.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    QuotaExhaustedError,
    UnknownSymbolError,
)

__all__ = ["is_data", "parse_daily_adjusted"]

_SERIES = "Time Series (Daily)"
_FIELDS = {
    "open": "1. open",
    "high": "2. high",
    "low": "3. low",
    "close": "4. close",
    "adj_close": "5. adjusted close",
    "volume": "6. volume",
}
_EASTERN = ZoneInfo("America/New_York")


def is_data(body: str) -> bool:
    """Whether a 200 answer holds data (and may be cached) rather than a refusal."""
    return _SERIES in body


def _refusal(body: dict[str, object], *, symbol: str, now: datetime) -> ProviderError | None:
    error = body.get("Error Message")
    if isinstance(error, str):
        if "apikey" in error.lower():
            return ProviderAuthError(
                "alphavantage refused the API key (missing or invalid); set "
                "STOCKPRED_ALPHA_VANTAGE_API_KEY",
                provider="alphavantage",
                symbol=symbol,
            )
        return UnknownSymbolError(
            f"alphavantage does not know {symbol!r} (invalid API call); check the symbol",
            provider="alphavantage",
            symbol=symbol,
        )
    for key in ("Note", "Information"):
        text = body.get(key)
        if isinstance(text, str):
            if "premium" in text.lower() and "rate limit" not in text.lower():
                return ProviderAuthError(
                    f"alphavantage: this endpoint needs a premium plan ({text[:120]})",
                    provider="alphavantage",
                    symbol=symbol,
                )
            # The daily quota resets at midnight US/Eastern.
            local = now.astimezone(_EASTERN)
            reset = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            return QuotaExhaustedError(
                f"alphavantage quota exhausted ({text[:100]}...); it resets around "
                f"{reset:%Y-%m-%d %H:%M} New York time",
                provider="alphavantage",
                symbol=symbol,
                reset_at=reset,
            )
    return None


def parse_daily_adjusted(body: object, *, symbol: str, now: datetime) -> pd.DataFrame:
    """Raw bars (ticker, date, open, high, low, close, adj_close, volume) from the daily series."""
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"alphavantage's answer for {symbol} is not a JSON object",
            provider="alphavantage",
            symbol=symbol,
        )
    refusal = _refusal(body, symbol=symbol, now=now)
    if refusal is not None:
        raise refusal
    series = body.get(_SERIES)
    if not isinstance(series, dict):
        raise MalformedResponseError(
            f"alphavantage's answer for {symbol} has no {_SERIES!r}; keys: {list(body)}",
            provider="alphavantage",
            symbol=symbol,
        )
    rows = []
    for day, values in series.items():
        if not isinstance(values, dict):
            raise MalformedResponseError(
                f"alphavantage's {day} entry for {symbol} is not an object",
                provider="alphavantage",
                symbol=symbol,
            )
        missing = [name for name in _FIELDS.values() if name not in values]
        if missing:
            raise MalformedResponseError(
                f"alphavantage's {day} entry for {symbol} lacks the field(s) {missing}",
                provider="alphavantage",
                symbol=symbol,
            )
        rows.append({"date": day, **{ours: values[theirs] for ours, theirs in _FIELDS.items()}})
    frame = pd.DataFrame(rows, columns=["date", *_FIELDS])
    frame.insert(0, "ticker", symbol.upper())
    # Alpha Vantage lists the newest day first.
    return frame.sort_values("date", kind="stable").reset_index(drop=True)

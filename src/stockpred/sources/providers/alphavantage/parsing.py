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

__all__ = [
    "is_data",
    "is_quote_or_series",
    "parse_daily_adjusted",
    "parse_global_quote",
    "parse_intraday",
]

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


_QUOTE_FIELDS = {
    "open": "02. open",
    "high": "03. high",
    "low": "04. low",
    "price": "05. price",
    "volume": "06. volume",
    "latest_trading_day": "07. latest trading day",
    "previous_close": "08. previous close",
}


def is_quote_or_series(body: str) -> bool:
    """Whether a 200 answer holds a quote or an intraday series (and may be cached)."""
    return '"Global Quote"' in body or '"Time Series (' in body


def parse_global_quote(body: object, *, symbol: str, now: datetime) -> dict[str, str]:
    """GLOBAL_QUOTE as our field names (values as sent; the pipeline types them)."""
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"alphavantage's quote for {symbol} is not a JSON object",
            provider="alphavantage",
            symbol=symbol,
        )
    refusal = _refusal(body, symbol=symbol, now=now)
    if refusal is not None:
        raise refusal
    quote = body.get("Global Quote")
    if not isinstance(quote, dict):
        raise MalformedResponseError(
            f"alphavantage's answer for {symbol} has no 'Global Quote'; keys: {list(body)}",
            provider="alphavantage",
            symbol=symbol,
        )
    if not quote:  # what Alpha Vantage sends for a symbol it does not know
        raise UnknownSymbolError(
            f"alphavantage has no quote for {symbol!r}; check the symbol",
            provider="alphavantage",
            symbol=symbol,
        )
    missing = [theirs for theirs in _QUOTE_FIELDS.values() if theirs not in quote]
    if missing:
        raise MalformedResponseError(
            f"alphavantage's quote for {symbol} lacks the field(s) {missing}",
            provider="alphavantage",
            symbol=symbol,
        )
    return {"ticker": symbol.upper(), **{o: str(quote[t]) for o, t in _QUOTE_FIELDS.items()}}


def parse_intraday(body: object, *, symbol: str, interval: str, now: datetime) -> pd.DataFrame:
    """TIME_SERIES_INTRADAY bars: ticker, ts (UTC, from Alpha Vantage's US/Eastern label), open,
    high, low, close, volume; oldest first."""
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"alphavantage's intraday answer for {symbol} is not a JSON object",
            provider="alphavantage",
            symbol=symbol,
        )
    refusal = _refusal(body, symbol=symbol, now=now)
    if refusal is not None:
        raise refusal
    key = f"Time Series ({interval})"
    series = body.get(key)
    if not isinstance(series, dict):
        raise MalformedResponseError(
            f"alphavantage's answer for {symbol} has no {key!r}; keys: {list(body)}",
            provider="alphavantage",
            symbol=symbol,
        )
    fields = {"open": "1. open", "high": "2. high", "low": "3. low", "close": "4. close",
              "volume": "5. volume"}  # fmt: skip
    rows = []
    for stamp, values in series.items():
        if not isinstance(values, dict) or any(f not in values for f in fields.values()):
            raise MalformedResponseError(
                f"alphavantage's {stamp} bar for {symbol} lacks fields of {list(fields.values())}",
                provider="alphavantage",
                symbol=symbol,
            )
        rows.append({"stamp": stamp, **{o: float(values[t]) for o, t in fields.items()}})
    frame = pd.DataFrame(rows, columns=["stamp", *fields])
    try:
        local = pd.to_datetime(frame["stamp"], format="%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise MalformedResponseError(
            f"alphavantage's intraday stamps for {symbol} are not 'YYYY-MM-DD HH:MM:SS': {exc}",
            provider="alphavantage",
            symbol=symbol,
        ) from exc
    frame["ts"] = local.dt.tz_localize(_EASTERN.key).dt.tz_convert("UTC")
    frame.insert(0, "ticker", symbol.upper())
    return (
        frame.drop(columns="stamp")
        .loc[:, ["ticker", "ts", *fields]]
        .sort_values("ts")
        .reset_index(drop=True)
    )

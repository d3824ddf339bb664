"""Stooq's CSV (``Date,Open,High,Low,Close,Volume``) and its plain-text refusals."""

from __future__ import annotations

import io

import pandas as pd

from stockpred.domain.errors import (
    MalformedResponseError,
    QuotaExhaustedError,
    UnknownSymbolError,
)

__all__ = ["parse_daily", "stooq_symbol"]

_COLUMNS = ["Date", "Open", "High", "Low", "Close"]


def stooq_symbol(ticker: str) -> str:
    """Our ticker to Stooq's: US listings carry ``.us``; indices keep their ``^`` (e.g. ^SPX)."""
    symbol = ticker.strip().lower()
    if symbol.startswith("^") or "." in symbol:
        return symbol
    return f"{symbol}.us"


def parse_daily(text: str, *, ticker: str) -> pd.DataFrame:
    """Raw bars from Stooq's daily CSV: ticker, date, open, high, low, close, volume."""
    body = text.strip()
    if not body or body.lower().startswith("no data"):
        raise UnknownSymbolError(
            f"stooq has no data for {ticker!r}; check the symbol (US stocks as AAPL, indices as "
            "^SPX)",
            provider="stooq",
            symbol=ticker,
        )
    if "exceeded the daily hits limit" in body.lower():
        raise QuotaExhaustedError(
            "stooq: the daily hits limit is exceeded; it resets at midnight (Europe/Warsaw)",
            provider="stooq",
            symbol=ticker,
        )
    try:
        frame = pd.read_csv(io.StringIO(body))
    except (pd.errors.ParserError, ValueError) as exc:
        raise MalformedResponseError(
            f"stooq sent an unreadable CSV for {ticker}: {exc}", provider="stooq", symbol=ticker
        ) from exc
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        raise MalformedResponseError(
            f"stooq's CSV for {ticker} lacks the field(s) {missing}; got {list(frame.columns)}",
            provider="stooq",
            symbol=ticker,
        )
    out = pd.DataFrame(
        {
            "ticker": ticker.upper(),
            "date": frame["Date"],
            "open": frame["Open"],
            "high": frame["High"],
            "low": frame["Low"],
            "close": frame["Close"],
            # Indices come without volume.
            "volume": frame.get("Volume", 0.0),
        }
    )
    return out

"""Nasdaq Data Link's JSON: ``datatable`` (Tables API), ``dataset_data`` (time-series API) and
``quandl_error``.

Errors come as ``{"quandl_error": {"code": "QECx02", "message": ...}}`` with a 4xx status. The
code's family says what failed: ``QEA`` the API key, ``QEL`` a rate or daily limit, ``QEC``/``QEP``
an unknown code or a bad parameter (``QECx02``, ``QEPx04`` and ``QECx01`` name a dataset, database
or table that does not exist), ``QEM``/``QEX`` the service itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    QuotaExhaustedError,
    UnknownSymbolError,
)

__all__ = ["TablePage", "parse_dataset", "parse_error", "parse_table_page"]

_PROVIDER = "nasdaqdatalink"
_UNKNOWN_CODES = {"QECx01", "QECx02", "QEPx04", "QECx04"}
_REQUIRED = ("date", "open", "high", "low", "close", "volume")
# Our column -> the names databases use for it, once lowered and stripped of non-letters
# ("Adj. Close", "Adj_Close", "adj_close" and SHARADAR's "closeadj" all mean adj_close).
_ALIASES = {
    "ticker": ("ticker",),
    "date": ("date",),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume",),
    "adj_close": ("adjclose", "closeadj"),
}


@dataclass(frozen=True, slots=True)
class TablePage:
    """One page of a table: its rows as raw bars, and the cursor of the next page (or None)."""

    frame: pd.DataFrame
    next_cursor: str | None


def parse_error(status: int, body: object, *, symbol: str) -> ProviderError:
    """A ``quandl_error`` (or any other refusal) as a stockpred error; never quotes the key."""
    error = body.get("quandl_error") if isinstance(body, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    if code.startswith("QEA"):
        return ProviderAuthError(
            f"nasdaqdatalink refused the API key ({code}: {message}); set "
            "STOCKPRED_NASDAQ_DATA_LINK_API_KEY to the key on data.nasdaq.com/account/profile",
            provider=_PROVIDER,
            symbol=symbol,
        )
    if code.startswith("QEL"):
        return QuotaExhaustedError(
            f"nasdaqdatalink: limit reached ({code}: {message}); wait, or raise the plan's limit",
            provider=_PROVIDER,
            symbol=symbol,
        )
    if code in _UNKNOWN_CODES or status == 404:
        return UnknownSymbolError(
            f"nasdaqdatalink does not know {symbol!r} ({code or status}: {message}); check the "
            "code on data.nasdaq.com (time-series as DATABASE/DATASET, e.g. WIKI/AAPL)",
            provider=_PROVIDER,
            symbol=symbol,
        )
    return ProviderError(
        f"nasdaqdatalink answered HTTP {status} for {symbol} ({code or 'no code'}: "
        f"{message or str(body)[:120]})",
        provider=_PROVIDER,
        symbol=symbol,
    )


def _malformed(symbol: str, what: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"nasdaqdatalink's answer for {symbol} {what}", provider=_PROVIDER, symbol=symbol
    )


def _bars(names: list[str], data: object, *, symbol: str, ticker: str | None) -> pd.DataFrame:
    """Raw bars from column names and row arrays, whatever each database calls the columns."""
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise _malformed(symbol, "has 'data' that is not a list of rows")
    if any(len(row) != len(names) for row in data):
        raise _malformed(symbol, f"has a row whose length differs from its {len(names)} columns")
    index = {re.sub(r"[^a-z]", "", name.lower()): i for i, name in enumerate(names)}
    found: dict[str, int] = {}
    for ours, theirs in _ALIASES.items():
        for alias in theirs:
            if alias in index:
                found[ours] = index[alias]
                break
    missing = [name for name in _REQUIRED if name not in found]
    if missing:
        raise _malformed(symbol, f"lacks the column(s) {missing}; got {names}")
    frame = pd.DataFrame({ours: [row[i] for row in data] for ours, i in found.items()})
    if ticker is not None or "ticker" not in frame:
        frame["ticker"] = ticker or symbol.upper()
    columns = ["ticker", *_REQUIRED] + (["adj_close"] if "adj_close" in frame else [])
    return frame[columns]


def parse_table_page(body: object, *, symbol: str) -> TablePage:
    """One Tables API page: ``datatable.columns[].name``, ``datatable.data``, ``meta``."""
    table = body.get("datatable") if isinstance(body, dict) else None
    if not isinstance(table, dict):
        raise _malformed(symbol, "has no 'datatable' object")
    columns = table.get("columns")
    if not isinstance(columns, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in columns
    ):
        raise _malformed(symbol, "has no 'datatable.columns' list of {name, type}")
    names = [str(c["name"]) for c in columns]
    frame = _bars(names, table.get("data"), symbol=symbol, ticker=None)
    meta = body.get("meta") if isinstance(body, dict) else None
    cursor = meta.get("next_cursor_id") if isinstance(meta, dict) else None
    return TablePage(frame=frame, next_cursor=str(cursor) if cursor else None)


def parse_dataset(body: object, *, symbol: str, ticker: str) -> pd.DataFrame:
    """Time-series API rows: ``dataset_data.column_names`` and ``dataset_data.data``."""
    dataset = body.get("dataset_data") if isinstance(body, dict) else None
    if not isinstance(dataset, dict):
        raise _malformed(symbol, "has no 'dataset_data' object")
    names = dataset.get("column_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _malformed(symbol, "has no 'dataset_data.column_names' list")
    frame = _bars(list(names), dataset.get("data"), symbol=symbol, ticker=ticker)
    # The time-series API lists the newest row first unless asked otherwise.
    return frame.sort_values("date", kind="stable").reset_index(drop=True)

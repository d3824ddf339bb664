"""Yahoo's chart JSON (``/v8/finance/chart/{symbol}``) and its ``chart.error`` refusals.

A success is ``{"chart": {"result": [{"meta": {...}, "timestamp": [...], "indicators":
{"quote": [{"open", "high", "low", "close", "volume"}], "adjclose": [{"adjclose"}]}}],
"error": null}}``. Timestamps are Unix seconds at each session's open; the session's day is taken
in ``meta.exchangeTimezoneName``. Asked with an intraday ``interval`` (``1m``, ``5m``, ...),
each timestamp is a bar's start, the last one the bar still forming. An unknown symbol is
HTTP 404 with ``{"chart": {"result": null, "error": {"code": "Not Found", "description": "No
data found, symbol may be delisted"}}}``.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderError,
    UnknownSymbolError,
)

__all__ = ["parse_chart", "parse_error", "parse_intraday_chart"]

_PROVIDER = "yahoo"
_QUOTE = ("open", "high", "low", "close", "volume")


def _malformed(symbol: str, what: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"yahoo's chart for {symbol} {what}", provider=_PROVIDER, symbol=symbol
    )


def parse_error(status: int, body: object, *, symbol: str) -> ProviderError:
    """``chart.error`` (or ``finance.error``) as a stockpred error."""
    error: object = None
    if isinstance(body, dict):
        for outer in ("chart", "finance"):
            part = body.get(outer)
            if isinstance(part, dict) and part.get("error"):
                error = part["error"]
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    description = str(error.get("description", "")) if isinstance(error, dict) else ""
    if code == "Not Found" or status == 404:
        return UnknownSymbolError(
            f"yahoo has no data for {symbol!r} ({description or 'Not Found'}); check the symbol "
            "as Yahoo writes it (e.g. AAPL, BRK-B, ^GSPC, VOD.L)",
            provider=_PROVIDER,
            symbol=symbol,
        )
    return ProviderError(
        f"yahoo refused the chart request for {symbol} (HTTP {status}, "
        f"{code or 'no code'}: {description or str(body)[:120]})",
        provider=_PROVIDER,
        symbol=symbol,
    )


def _series(block: object, name: str, *, length: int, symbol: str) -> list[object]:
    values = block.get(name) if isinstance(block, dict) else None
    if not isinstance(values, list):
        raise _malformed(symbol, f"lacks the field 'indicators.quote[0].{name}'")
    if len(values) != length:
        raise _malformed(symbol, f"has {len(values)} values of {name!r} for {length} timestamps")
    return values


def parse_chart(body: object, *, symbol: str) -> pd.DataFrame:
    """Raw bars (ticker, date, open, high, low, close, volume, adj_close), oldest first."""
    result = _result(body, symbol=symbol)
    meta = result.get("meta")
    zone_name = meta.get("exchangeTimezoneName") if isinstance(meta, dict) else None
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        what = f"has no usable 'meta.exchangeTimezoneName': {zone_name!r}"
        raise _malformed(symbol, what) from None
    columns = ["ticker", "date", *_QUOTE, "adj_close"]
    stamps = result.get("timestamp")
    if stamps is None:  # no session in the asked range
        return pd.DataFrame(columns=columns)
    if not isinstance(stamps, list) or not all(isinstance(s, int) for s in stamps):
        raise _malformed(symbol, "has a 'timestamp' that is not a list of Unix seconds")
    indicators = result.get("indicators")
    quotes = indicators.get("quote") if isinstance(indicators, dict) else None
    if not isinstance(quotes, list) or not quotes:
        raise _malformed(symbol, "lacks the field 'indicators.quote'")
    values = {name: _series(quotes[0], name, length=len(stamps), symbol=symbol) for name in _QUOTE}
    adjusted = indicators.get("adjclose") if isinstance(indicators, dict) else None
    if isinstance(adjusted, list) and adjusted:
        values["adj_close"] = _series(adjusted[0], "adjclose", length=len(stamps), symbol=symbol)
    else:  # asked without includeAdjustedClose, or an index: the close is all there is
        values["adj_close"] = values["close"]
    days = pd.to_datetime(pd.Series(stamps, dtype="int64"), unit="s", utc=True).dt.tz_convert(zone)
    frame = pd.DataFrame({"date": days.dt.strftime("%Y-%m-%d"), **values})
    frame.insert(0, "ticker", symbol.upper())
    # Yahoo pads holidays and halted days with nulls in every price; they are not sessions.
    frame = frame.dropna(subset=["open", "high", "low", "close"], how="all")
    # A live session shows up again as a last row for the same day: keep the latest one.
    frame = frame.drop_duplicates("date", keep="last")
    return frame[columns].sort_values("date", kind="stable").reset_index(drop=True)


def _result(body: object, *, symbol: str) -> dict[str, object]:
    chart = body.get("chart") if isinstance(body, dict) else None
    if not isinstance(chart, dict):
        raise _malformed(symbol, "has no 'chart' object")
    if chart.get("error"):
        raise parse_error(200, body, symbol=symbol)
    results = chart.get("result")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise _malformed(symbol, "has no 'chart.result[0]'")
    return results[0]


def parse_intraday_chart(body: object, *, symbol: str) -> pd.DataFrame:
    """Intraday bars (ticker, ts, open, high, low, close, volume) of a chart asked with an
    intraday interval, oldest first: ``ts`` is each bar's start in UTC, as Yahoo stamps it.
    Minutes without a trade (null prices) are left out; a null volume is 0."""
    result = _result(body, symbol=symbol)
    columns = ["ticker", "ts", *_QUOTE]
    stamps = result.get("timestamp")
    if stamps is None:  # no trade yet in the asked range
        return pd.DataFrame(columns=columns)
    if not isinstance(stamps, list) or not all(isinstance(s, int) for s in stamps):
        raise _malformed(symbol, "has a 'timestamp' that is not a list of Unix seconds")
    indicators = result.get("indicators")
    quotes = indicators.get("quote") if isinstance(indicators, dict) else None
    if not isinstance(quotes, list) or not quotes:
        raise _malformed(symbol, "lacks the field 'indicators.quote'")
    values = {name: _series(quotes[0], name, length=len(stamps), symbol=symbol) for name in _QUOTE}
    try:
        frame = pd.DataFrame(values, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise _malformed(
            symbol, f"has a value in 'indicators.quote[0]' that is not a number: {exc}"
        ) from exc
    frame.insert(0, "ts", pd.to_datetime(pd.Series(stamps, dtype="int64"), unit="s", utc=True))
    frame.insert(0, "ticker", symbol.upper())
    frame = frame.dropna(subset=["open", "high", "low", "close"], how="any")
    frame["volume"] = frame["volume"].fillna(0.0)
    # The bar under way can show up twice (at its start and at the last trade): keep the latest.
    frame = frame.drop_duplicates("ts", keep="last")
    return frame[columns].sort_values("ts", kind="stable").reset_index(drop=True)

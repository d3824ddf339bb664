"""Alpaca's market-data v2 messages: parsing and the meaning of its error codes."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from stockpred.domain.errors import MalformedResponseError, ProviderAuthError, ProviderError
from stockpred.domain.records import Bar

__all__ = [
    "KEY_SETTINGS",
    "PROVIDER",
    "RETRYABLE_CODES",
    "Trade",
    "bar_from_wire",
    "parse_frame",
    "parse_time",
    "refusal_error",
    "trade_from_wire",
]

PROVIDER = "alpaca"
KEY_SETTINGS = "STOCKPRED_ALPACA_KEY_ID and STOCKPRED_ALPACA_SECRET_KEY"
_MINUTE = timedelta(minutes=1)
# 404 auth timeout (we were too slow to authenticate) and 500 internal error: a new
# connection may well succeed. Every other code is a fact about the keys or the request.
RETRYABLE_CODES = frozenset({404, 500})
_REFUSALS = {
    400: "rejected a message as invalid syntax (a stockpred bug; please report it)",
    401: "says the connection is not authenticated",
    402: f"refused the keys (auth failed); set {KEY_SETTINGS} to a valid key pair "
    "(app.alpaca.markets, API keys)",
    404: "timed out waiting for authentication",
    405: "refused the subscription: the plan's symbol limit is exceeded; subscribe fewer symbols",
    406: "refused the connection: the connection limit is exceeded (the free plan allows one "
    "stream connection per account); stop the other process or feed using these keys",
    409: "refused the subscription: the keys' plan does not include this data feed; use the iex "
    "stream (wss://stream.data.alpaca.markets/v2/iex) or upgrade the plan",
    410: "rejected the subscribe action (a stockpred bug; please report it)",
    500: "had an internal error",
}


def refusal_error(code: int, message: str) -> ProviderError:
    """The stockpred error for an Alpaca stream error message ``{"T":"error","code":..}``."""
    meaning = _REFUSALS.get(code, "sent an error this feed does not know")
    text = f"alpaca {meaning} (code {code}: {message!r})"
    if code in (401, 402, 409):
        if code == 401:
            text += f"; check {KEY_SETTINGS}"
        return ProviderAuthError(text, provider=PROVIDER)
    return ProviderError(text, provider=PROVIDER)


def parse_frame(text: str | bytes) -> list[Mapping[str, object]]:
    """One websocket message: a JSON array of objects (a lone object is read as one)."""
    try:
        decoded = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponseError(
            f"alpaca sent a message that is not JSON: {_clip(text)!r}", provider=PROVIDER
        ) from exc
    items = decoded if isinstance(decoded, list) else [decoded]
    if not all(isinstance(item, dict) for item in items):
        raise MalformedResponseError(
            f"alpaca sent a message that is not an array of objects: {_clip(text)!r}",
            provider=PROVIDER,
        )
    return items


def parse_time(value: object, *, field: str = "t") -> datetime:
    """An RFC 3339 timestamp (``2021-02-22T15:51:44.208Z``, nanoseconds allowed) as UTC."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC)
    raise MalformedResponseError(
        f"alpaca sent {field}={value!r}; expected an RFC 3339 UTC timestamp", provider=PROVIDER
    )


def _number(item: Mapping[str, object], field: str) -> float:
    value = item.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedResponseError(
            f"alpaca sent {field}={value!r} in {dict(item)!r}; expected a finite number",
            provider=PROVIDER,
            symbol=_symbol_or_none(item),
        )
    return float(value)


def _symbol_or_none(item: Mapping[str, object]) -> str | None:
    symbol = item.get("S")
    return symbol if isinstance(symbol, str) else None


def bar_from_wire(item: Mapping[str, object], *, symbol: str, ingested_at: datetime) -> Bar:
    """A minute bar (stream ``{"T":"b",...}`` or REST) as a domain Bar closing a minute after
    its ``t``, Alpaca's start of the minute."""
    start = parse_time(item.get("t"))
    return Bar(
        ticker=symbol,
        ts=start + _MINUTE,
        open=_number(item, "o"),
        high=_number(item, "h"),
        low=_number(item, "l"),
        close=_number(item, "c"),
        adj_close=None,
        volume=_number(item, "v"),
        source=PROVIDER,
        ingested_at=ingested_at,
        interval="1m",
    )


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade of the ``trades`` channel: price, size in shares, time (UTC)."""

    symbol: str
    price: float
    size: float
    ts: datetime


def trade_from_wire(item: Mapping[str, object]) -> Trade:
    """``{"T":"t","S":"AAPL","p":126.55,"s":1,"t":"...",...}`` as a Trade."""
    symbol = _symbol_or_none(item)
    if symbol is None:
        raise MalformedResponseError(
            f"alpaca sent a trade without a symbol: {dict(item)!r}", provider=PROVIDER
        )
    return Trade(symbol, _number(item, "p"), _number(item, "s"), parse_time(item.get("t")))


def _clip(text: str | bytes) -> str | bytes:
    return text[:200]

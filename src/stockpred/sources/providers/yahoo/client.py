"""The Yahoo Finance adapter: ``/v8/finance/chart/{symbol}?period1=..&period2=..&interval=1d``,
and intraday bars from the same endpoint (``?interval=1m&range=1d``).

Why not through ``yfinance``: yfinance 1.7 reads this same endpoint, but it cannot be pointed at
another server reliably. Its base URL is bound into each scraper module at import
(``from yfinance.const import _BASE_URL_``), so changing ``yfinance.const`` has no effect; before
every first request it performs a cookie and crumb handshake against hard-coded hosts
(``fc.yahoo.com``, ``query1.finance.yahoo.com/v1/test/getcrumb``) and stores the cookie in a
SQLite file in the user's cache folder; it refuses caching sessions (``requests-cache``), retries
by itself with fixed sleeps that ignore ``Retry-After``, and reports most failures by logging and
returning an empty frame. Behind it we would lose the shared cache, rate limit, retries, circuit
breaker and error translation that every adapter has, and tests would reach for the internet. So
the adapter reads the chart JSON directly through ProviderHttp, and ``yfinance`` is not a
dependency.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pandas as pd

from stockpred.domain.errors import MalformedResponseError
from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp
from stockpred.sources.providers.yahoo.config import INFO, USER_AGENT
from stockpred.sources.providers.yahoo.parsing import (
    parse_chart,
    parse_error,
    parse_intraday_chart,
)

__all__ = ["INTRADAY_INTERVALS", "INTRADAY_RANGES", "YahooProvider"]

INTRADAY_INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m")
# Yahoo keeps minute bars for the last 30 days and serves at most 7 days of them per request.
INTRADAY_RANGES = ("1d", "5d")


def _is_data(body: str) -> bool:
    compact = body.replace(" ", "")
    return '"chart":{"result":[' in compact and '"error":null' in compact


def _epoch(moment: pd.Timestamp | datetime) -> str:
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return str(int(stamp.timestamp()))


class YahooProvider:
    """Daily bars with Yahoo's adjusted close (splits and dividends), one request per symbol."""

    info: ProviderInfo = INFO

    def __init__(
        self,
        context: ProviderContext,
        *,
        policy: HttpPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clock = clock
        self._http = ProviderHttp(INFO, context, policy=policy, cacheable=_is_data, clock=clock)

    @property
    def http(self) -> ProviderHttp:
        return self._http

    def fetch_bars(
        self, symbol: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        ticker = symbol.strip().upper()
        params = {"interval": "1d", "events": "div,splits", "includeAdjustedClose": "true"}
        if start is None and end is None:
            params["range"] = "max"
        else:
            # period2 is exclusive; without an end, the next UTC midnight, so that every run of
            # the same day asks the same question and the cache can answer it.
            today = self._clock().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            until = end + pd.Timedelta(days=1) if end is not None else today + timedelta(days=1)
            params["period1"] = _epoch(start) if start is not None else "0"
            params["period2"] = _epoch(until)
        return parse_chart(self._chart(ticker, params, endpoint="chart"), symbol=ticker)

    def fetch_intraday(
        self, symbol: str, *, interval: str = "1m", window: str = "1d"
    ) -> pd.DataFrame:
        """Intraday bars of the regular session (ticker, ts, open, high, low, close, volume;
        ``ts`` each bar's start, UTC) over the last ``window`` (``1d``: the latest session,
        ``5d``: the latest five), the bar still forming last. Cached for 20 s."""
        if interval not in INTRADAY_INTERVALS:
            raise ValueError(f"interval must be one of {INTRADAY_INTERVALS}, got {interval!r}")
        if window not in INTRADAY_RANGES:
            raise ValueError(f"window must be one of {INTRADAY_RANGES}, got {window!r}")
        ticker = symbol.strip().upper()
        params = {"interval": interval, "range": window, "includePrePost": "false"}
        body = self._chart(ticker, params, endpoint="intraday")
        return parse_intraday_chart(body, symbol=ticker)

    def _chart(self, ticker: str, params: dict[str, str], *, endpoint: str) -> object:
        """One chart request: the body as JSON, or the error Yahoo's answer stands for."""
        response = self._http.get(
            f"/v8/finance/chart/{quote(ticker, safe='')}",
            params=params,
            endpoint=endpoint,
            symbol=ticker,
            headers={"User-Agent": USER_AGENT},
        )
        try:
            body: object = json.loads(response.text)
        except json.JSONDecodeError:
            body = None
        if response.status != 200:
            raise parse_error(response.status, body, symbol=ticker)
        if body is None:
            raise MalformedResponseError(
                f"yahoo sent a body that is not JSON for {ticker}: {response.text[:80]!r}",
                provider=INFO.name,
                symbol=ticker,
            )
        return body

    def close(self) -> None:
        self._http.close()

"""The Alpha Vantage adapter: ``/query?function=TIME_SERIES_DAILY_ADJUSTED``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import pandas as pd

from stockpred.domain.errors import ProviderAuthError
from stockpred.sources.providers.alphavantage.config import INFO
from stockpred.sources.providers.alphavantage.parsing import (
    is_data,
    is_quote_or_series,
    parse_daily_adjusted,
    parse_global_quote,
    parse_intraday,
)
from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp, decode_json, raise_for_status

__all__ = ["INTRADAY_INTERVALS", "AlphaVantageProvider"]

# compact = the latest 100 sessions: enough for an incremental run, and cheaper to transfer.
_COMPACT_SESSIONS = 100
INTRADAY_INTERVALS = ("1min", "5min", "15min", "30min", "60min")


class AlphaVantageProvider:
    """Daily bars with the adjusted close, filtered to the asked range."""

    info: ProviderInfo = INFO

    def __init__(
        self,
        context: ProviderContext,
        *,
        policy: HttpPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._key = context.api_key
        self._clock = clock
        self._http = ProviderHttp(
            INFO,
            context,
            secret_params=("apikey",),
            policy=policy,
            cacheable=lambda body: is_data(body) or is_quote_or_series(body),
            clock=clock,
        )

    @property
    def http(self) -> ProviderHttp:
        return self._http

    def fetch_bars(
        self, symbol: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        recent = start is not None and (self._clock().date() - start.date()).days < (
            _COMPACT_SESSIONS * 7 // 5 - 10
        )
        body = self._call(
            {
                "function": "TIME_SERIES_DAILY_ADJUSTED",
                "outputsize": "compact" if recent else "full",
            },
            endpoint="daily",
            symbol=symbol,
        )
        bars = parse_daily_adjusted(body, symbol=symbol, now=self._clock())
        dates = pd.to_datetime(bars["date"], errors="coerce")
        keep = pd.Series(True, index=bars.index)
        if start is not None:
            keep &= ~(dates < start)
        if end is not None:
            keep &= ~(dates > end)
        return bars[keep].reset_index(drop=True)

    def _call(self, params: dict[str, str], *, endpoint: str, symbol: str) -> object:
        """One /query call: key checked, refusals left to the parsers, body as JSON with the key
        blanked out (Alpha Vantage quotes it back in its quota messages)."""
        if not self._key:
            raise ProviderAuthError(
                "alphavantage needs an API key; set STOCKPRED_ALPHA_VANTAGE_API_KEY",
                provider="alphavantage",
                symbol=symbol,
            )
        params = {**params, "symbol": symbol.upper(), "datatype": "json", "apikey": self._key}
        response = self._http.get("/query", params=params, endpoint=endpoint, symbol=symbol)
        raise_for_status(response, provider=INFO.name, symbol=symbol)
        return decode_json(
            response.text.replace(self._key, "***"), provider="alphavantage", symbol=symbol
        )

    def fetch_quote(self, symbol: str) -> dict[str, str]:
        """The latest quote (GLOBAL_QUOTE): open, high, low, price, volume, latest trading day,
        previous close; cached for a minute, so a burst of callers spends one request."""
        body = self._call({"function": "GLOBAL_QUOTE"}, endpoint="quote", symbol=symbol)
        return parse_global_quote(body, symbol=symbol, now=self._clock())

    def fetch_intraday(
        self,
        symbol: str,
        *,
        interval: str = "5min",
        outputsize: Literal["compact", "full"] = "full",
        extended_hours: bool = True,
    ) -> pd.DataFrame:
        """Intraday bars (TIME_SERIES_INTRADAY) at ``interval`` (1min, 5min, 15min, 30min, 60min),
        timestamps converted from Alpha Vantage's US/Eastern labels to UTC. ``compact``: the
        latest 100 bars, cached for 20 s (what a poll asks); ``full``: the last 30 days, cached
        for 5 minutes. ``extended_hours``: pre- and post-market bars too."""
        if interval not in INTRADAY_INTERVALS:
            raise ValueError(f"interval must be one of {INTRADAY_INTERVALS}, got {interval!r}")
        params = {
            "function": "TIME_SERIES_INTRADAY",
            "interval": interval,
            "outputsize": outputsize,
        }
        if not extended_hours:
            params["extended_hours"] = "false"
        body = self._call(
            params,
            endpoint="intraday" if outputsize == "full" else "intraday_recent",
            symbol=symbol,
        )
        return parse_intraday(body, symbol=symbol, interval=interval, now=self._clock())

    def close(self) -> None:
        self._http.close()

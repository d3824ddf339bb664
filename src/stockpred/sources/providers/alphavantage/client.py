"""The Alpha Vantage adapter: ``/query?function=TIME_SERIES_DAILY_ADJUSTED``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd

from stockpred.domain.errors import MalformedResponseError, ProviderAuthError
from stockpred.sources.providers.alphavantage.config import INFO
from stockpred.sources.providers.alphavantage.parsing import is_data, parse_daily_adjusted
from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp, raise_for_status

__all__ = ["AlphaVantageProvider"]

# compact = the latest 100 sessions: enough for an incremental run, and cheaper to transfer.
_COMPACT_SESSIONS = 100


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
            INFO, context, secret_params=("apikey",), policy=policy, cacheable=is_data, clock=clock
        )

    @property
    def http(self) -> ProviderHttp:
        return self._http

    def fetch_bars(
        self, symbol: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        if not self._key:
            raise ProviderAuthError(
                "alphavantage needs an API key; set STOCKPRED_ALPHA_VANTAGE_API_KEY",
                provider="alphavantage",
                symbol=symbol,
            )
        recent = start is not None and (self._clock().date() - start.date()).days < (
            _COMPACT_SESSIONS * 7 // 5 - 10
        )
        params = {
            "function": "TIME_SERIES_DAILY_ADJUSTED",
            "symbol": symbol.upper(),
            "outputsize": "compact" if recent else "full",
            "datatype": "json",
            "apikey": self._key,
        }
        response = self._http.get("/query", params=params, endpoint="daily", symbol=symbol)
        raise_for_status(response, provider=INFO.name, symbol=symbol)
        # Alpha Vantage quotes the key back in its quota messages: never let it travel further.
        text = response.text.replace(self._key, "***")
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedResponseError(
                f"alphavantage sent a body that is not JSON for {symbol}: {response.text[:80]!r}",
                provider="alphavantage",
                symbol=symbol,
            ) from exc
        bars = parse_daily_adjusted(body, symbol=symbol, now=self._clock())
        dates = pd.to_datetime(bars["date"], errors="coerce")
        keep = pd.Series(True, index=bars.index)
        if start is not None:
            keep &= ~(dates < start)
        if end is not None:
            keep &= ~(dates > end)
        return bars[keep].reset_index(drop=True)

    def close(self) -> None:
        self._http.close()

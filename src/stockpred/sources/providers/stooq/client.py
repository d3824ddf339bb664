"""The Stooq adapter: ``/q/d/l/?s=SYMBOL&i=d&d1=YYYYMMDD&d2=YYYYMMDD``."""

from __future__ import annotations

import pandas as pd

from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp, raise_for_status
from stockpred.sources.providers.stooq.config import INFO
from stockpred.sources.providers.stooq.parsing import parse_daily, stooq_symbol

__all__ = ["StooqProvider"]


class StooqProvider:
    """Daily bars from Stooq; split-adjusted prices, no adjusted close column."""

    info: ProviderInfo = INFO

    def __init__(self, context: ProviderContext, *, policy: HttpPolicy | None = None) -> None:
        # Only real CSV is cached, never a refusal ("No data", "Exceeded the daily hits limit").
        self._http = ProviderHttp(
            INFO, context, policy=policy, cacheable=lambda body: body.startswith("Date,")
        )

    @property
    def http(self) -> ProviderHttp:
        return self._http

    def fetch_bars(
        self, symbol: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        params = {"s": stooq_symbol(symbol), "i": "d"}
        if start is not None:
            params["d1"] = start.strftime("%Y%m%d")
        if end is not None:
            params["d2"] = end.strftime("%Y%m%d")
        response = self._http.get("/q/d/l/", params=params, endpoint="daily", symbol=symbol)
        raise_for_status(response, provider=INFO.name, symbol=symbol)
        return parse_daily(response.text, ticker=symbol)

    def close(self) -> None:
        self._http.close()

"""The FRED adapter: ``/fred/series/observations`` over every vintage, page by page."""

from __future__ import annotations

import pandas as pd

from stockpred.domain.errors import ProviderAuthError
from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.fred.config import INFO, PAGE_SIZE
from stockpred.sources.providers.fred.parsing import parse_error, parse_observations
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp, decode_json

__all__ = ["FredProvider"]

_PATH = "/fred/series/observations"


class FredProvider:
    """Every published vintage of a FRED series, each with the day it became known."""

    info: ProviderInfo = INFO

    def __init__(
        self,
        context: ProviderContext,
        *,
        policy: HttpPolicy | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._key = context.api_key
        self._page_size = page_size
        self._http = ProviderHttp(
            INFO,
            context,
            secret_params=("api_key",),
            policy=policy,
            cacheable=lambda body: '"observations"' in body,
        )

    @property
    def http(self) -> ProviderHttp:
        return self._http

    def fetch_series(
        self, series_id: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        if not self._key:
            raise ProviderAuthError(
                "fred needs an API key; set STOCKPRED_FRED_API_KEY (free at fred.stlouisfed.org)",
                provider="fred",
                symbol=series_id,
            )
        series = series_id.strip().upper()
        params = {
            "series_id": series,
            "api_key": self._key,
            "file_type": "json",
            "realtime_start": "1776-07-04",
            "realtime_end": "9999-12-31",
            "sort_order": "asc",
            "limit": str(self._page_size),
        }
        if start is not None:
            params["observation_start"] = start.strftime("%Y-%m-%d")
        if end is not None:
            params["observation_end"] = end.strftime("%Y-%m-%d")
        pages = []
        offset = 0
        while True:
            params["offset"] = str(offset)
            response = self._http.get(_PATH, params=params, endpoint="observations", symbol=series)
            body = decode_json(response.text, provider="fred", symbol=series)
            if response.status != 200:
                raise parse_error(response.status, body, series_id=series)
            page = parse_observations(body, series_id=series)
            pages.append(page.frame)
            rows = body.get("observations", []) if isinstance(body, dict) else []
            offset += len(rows)
            if not rows or offset >= page.count:
                break
        return pd.concat(pages, ignore_index=True)

    def close(self) -> None:
        self._http.close()

"""The World Bank adapter: ``/v2/country/{country}/indicator/{indicator}``, page by page."""

from __future__ import annotations

import pandas as pd

from stockpred.domain.errors import UnknownSymbolError
from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp, decode_json, raise_for_status
from stockpred.sources.providers.worldbank.config import INFO, PAGE_SIZE
from stockpred.sources.providers.worldbank.parsing import parse_error, parse_page, split_series_id

__all__ = ["WorldBankProvider"]


def _is_data(body: str) -> bool:
    """A page of data (cacheable), not an error message list, which also comes with HTTP 200."""
    return '"lastupdated"' in body[:500]


class WorldBankProvider:
    """Every value of a World Bank indicator for one country, dated by the indicator's refresh."""

    info: ProviderInfo = INFO

    def __init__(
        self,
        context: ProviderContext,
        *,
        policy: HttpPolicy | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._page_size = page_size
        self._http = ProviderHttp(INFO, context, policy=policy, cacheable=_is_data)

    @property
    def http(self) -> ProviderHttp:
        return self._http

    def fetch_series(
        self, series_id: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        """All values of ``COUNTRY:INDICATOR`` whose period lies in [start, end]."""
        series = series_id.strip().upper()
        country, indicator = split_series_id(series)
        if not country or not indicator:
            raise UnknownSymbolError(
                f"worldbank series {series_id!r} is not COUNTRY:INDICATOR "
                "(e.g. USA:NY.GDP.MKTP.CD)",
                provider="worldbank",
                symbol=series_id,
            )
        # The whole history, filtered here: a year range in ``date`` does not select monthly or
        # quarterly periods, and one cached answer serves every range.
        path = f"/v2/country/{country}/indicator/{indicator}"
        params = {"format": "json", "per_page": str(self._page_size)}
        frames = []
        page = 1
        while True:
            params["page"] = str(page)
            response = self._http.get(path, params=params, endpoint="indicator", symbol=series)
            body = decode_json(response.text, provider="worldbank", symbol=series)
            error = parse_error(body, series_id=series)
            if error is not None:
                raise error
            raise_for_status(response, provider=INFO.name, symbol=series)
            result = parse_page(body, series_id=series)
            if result.total == 0:
                raise UnknownSymbolError(
                    f"worldbank has no values for {indicator} in {country}; check the indicator "
                    "and country on data.worldbank.org",
                    provider="worldbank",
                    symbol=series,
                )
            frames.append(result.frame)
            if result.page >= result.pages:
                break
            page += 1
        points = pd.concat(frames, ignore_index=True)
        periods = pd.to_datetime(pd.Series(points["period"], dtype=object))
        keep = pd.Series(True, index=points.index)
        if start is not None:
            keep &= periods >= start
        if end is not None:
            keep &= periods <= end
        return points[keep].sort_values("period", kind="stable").reset_index(drop=True)

    def close(self) -> None:
        self._http.close()

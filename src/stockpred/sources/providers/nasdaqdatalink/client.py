"""The Nasdaq Data Link adapter: which API answers depends on the symbol.

* ``DATABASE/DATASET`` (a slash, e.g. ``WIKI/AAPL``, ``EOD/MSFT``): the time-series API,
  ``/api/v3/datasets/{database}/{dataset}/data.json``; the bars are stored under the dataset code
  (``AAPL``). One answer holds the whole range.
* a plain ticker (``AAPL``): the Tables API, ``/api/v3/datatables/{table}.json?ticker=...``, on the
  configured table (``QUOTEMEDIA/PRICES`` unless told otherwise), page by page through
  ``meta.next_cursor_id`` / ``qopts.cursor_id``.
"""

from __future__ import annotations

import json

import pandas as pd

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    UnknownSymbolError,
)
from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp, Response
from stockpred.sources.providers.nasdaqdatalink.config import DEFAULT_TABLE, INFO, PAGE_SIZE
from stockpred.sources.providers.nasdaqdatalink.parsing import (
    parse_dataset,
    parse_error,
    parse_table_page,
)

__all__ = ["NasdaqDataLinkProvider"]

_TABLE_COLUMNS = "ticker,date,open,high,low,close,volume,adj_close"


def _is_data(body: str) -> bool:
    """Only answers holding data are cached (errors come with 4xx, but be sure)."""
    return '"quandl_error"' not in body and ('"datatable"' in body or '"dataset_data"' in body)


class NasdaqDataLinkProvider:
    """Daily bars from a Nasdaq Data Link table or time-series dataset."""

    info: ProviderInfo = INFO

    def __init__(
        self,
        context: ProviderContext,
        *,
        policy: HttpPolicy | None = None,
        table: str = DEFAULT_TABLE,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._key = context.api_key
        self._table = table.strip("/").upper()
        self._page_size = page_size
        self._http = ProviderHttp(
            INFO, context, secret_params=("api_key",), policy=policy, cacheable=_is_data
        )

    @property
    def http(self) -> ProviderHttp:
        return self._http

    def fetch_bars(
        self, symbol: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        if not self._key:
            raise ProviderAuthError(
                "nasdaqdatalink needs an API key; set STOCKPRED_NASDAQ_DATA_LINK_API_KEY "
                "(free at data.nasdaq.com)",
                provider=INFO.name,
                symbol=symbol,
            )
        code = symbol.strip().upper()
        if "/" in code:
            return self._dataset(code, start=start, end=end)
        return self._datatable(code, start=start, end=end)

    def _json(self, response: Response, *, symbol: str) -> object:
        try:
            body: object = json.loads(response.text)
        except json.JSONDecodeError:
            body = None
        if response.status != 200:
            raise parse_error(response.status, body, symbol=symbol)
        if body is None:
            raise MalformedResponseError(
                f"nasdaqdatalink sent a body that is not JSON for {symbol}: {response.text[:80]!r}",
                provider=INFO.name,
                symbol=symbol,
            )
        return body

    def _datatable(
        self, ticker: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        params = {
            "ticker": ticker,
            "qopts.columns": _TABLE_COLUMNS,
            "qopts.per_page": str(self._page_size),
            "api_key": self._key or "",
        }
        if start is not None:
            params["date.gte"] = start.strftime("%Y-%m-%d")
        if end is not None:
            params["date.lte"] = end.strftime("%Y-%m-%d")
        path = f"/api/v3/datatables/{self._table}.json"
        frames = []
        while True:
            response = self._http.get(path, params=params, endpoint="datatable", symbol=ticker)
            page = parse_table_page(self._json(response, symbol=ticker), symbol=ticker)
            frames.append(page.frame)
            if page.next_cursor is None:
                break
            params["qopts.cursor_id"] = page.next_cursor
        bars = pd.concat(frames, ignore_index=True)
        if bars.empty:
            # The Tables API answers an unknown ticker with an empty table, not an error.
            raise UnknownSymbolError(
                f"nasdaqdatalink's {self._table} has no rows for {ticker!r}"
                + (f" from {start:%Y-%m-%d}" if start is not None else "")
                + "; check the ticker, or ask a time-series dataset as DATABASE/DATASET",
                provider=INFO.name,
                symbol=ticker,
            )
        return bars.sort_values("date", kind="stable").reset_index(drop=True)

    def _dataset(
        self, code: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        database, _, dataset = code.partition("/")
        params = {"order": "asc", "api_key": self._key or ""}
        if start is not None:
            params["start_date"] = start.strftime("%Y-%m-%d")
        if end is not None:
            params["end_date"] = end.strftime("%Y-%m-%d")
        path = f"/api/v3/datasets/{database}/{dataset}/data.json"
        response = self._http.get(path, params=params, endpoint="dataset", symbol=code)
        body = self._json(response, symbol=code)
        return parse_dataset(body, symbol=code, ticker=dataset)

    def close(self) -> None:
        self._http.close()

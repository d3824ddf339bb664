"""The NewsAPI adapter: ``/v2/everything``, every page up to ``totalResults``.

The key travels in the ``X-Api-Key`` header, never in the URL: it is left out of the cache key,
redacted in the cache and never put in a message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pandas as pd

from stockpred.domain.errors import ProviderAuthError
from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp
from stockpred.sources.providers.newsapi.config import INFO, MAX_PAGES, PAGE_SIZE
from stockpred.sources.providers.newsapi.parsing import (
    MAXIMUM_RESULTS,
    error_code,
    is_data,
    parse_everything,
    refusal,
)
from stockpred.sources.providers.newsitems import news_frame, url_id, utc_bound

__all__ = ["NewsApiProvider"]

_KEY_HEADER = "X-Api-Key"


class NewsApiProvider:
    """Articles answering a query, newest first from NewsAPI, returned oldest first."""

    info: ProviderInfo = INFO

    def __init__(
        self,
        context: ProviderContext,
        *,
        policy: HttpPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_pages: int = MAX_PAGES,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._key = context.api_key
        self._max_pages = max_pages
        self._page_size = page_size
        self._http = ProviderHttp(
            INFO,
            context,
            secret_headers=(_KEY_HEADER,),
            policy=policy,
            cacheable=is_data,
            clock=clock,
        )

    @property
    def http(self) -> ProviderHttp:
        return self._http

    def fetch_news(
        self,
        query: str,
        *,
        tickers: Sequence[str],
        since: pd.Timestamp | None,
        until: pd.Timestamp | None,
    ) -> pd.DataFrame:
        if not self._key:
            raise ProviderAuthError(
                "newsapi needs an API key; set STOCKPRED_NEWSAPI_API_KEY",
                provider="newsapi",
                symbol=query,
            )
        params = {
            "q": query,
            "language": "en",
            "sortBy": "publishedAt",
            "pageSize": str(self._page_size),
        }
        low, high = utc_bound(since), utc_bound(until)
        if low is not None:
            params["from"] = f"{low:%Y-%m-%dT%H:%M:%S}"
        if high is not None:
            params["to"] = f"{high:%Y-%m-%dT%H:%M:%S}"
        items: list[dict[str, object]] = []
        for page in range(1, self._max_pages + 1):
            response = self._http.get(
                "/v2/everything",
                params={**params, "page": str(page)},
                endpoint="everything",
                symbol=query,
                headers={_KEY_HEADER: self._key},
            )
            text = response.text.replace(self._key, "***")
            if response.status != 200:
                # A developer account may not page past its first 100 results: keep those.
                if page > 1 and error_code(text) == MAXIMUM_RESULTS:
                    break
                raise refusal(response.status, text, query=query)
            found, total, count = parse_everything(text, query=query)
            items.extend(found)
            if count == 0 or (page - 1) * self._page_size + count >= total:
                break
        for item in items:
            item["id"] = url_id(str(item["url"]))
        return news_frame(items, query=query, tickers=tickers, since=since, until=until)

    def close(self) -> None:
        self._http.close()

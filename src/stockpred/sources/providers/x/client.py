"""The X adapter: ``/2/tweets/search/recent`` with an app bearer token, following ``next_token``.

The token travels in the ``Authorization`` header: left out of the cache key, redacted in the
cache and never put in a message. A 429 carries ``x-rate-limit-reset`` (epoch seconds), which
the HTTP layer waits for like a ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pandas as pd

from stockpred.domain.errors import ProviderAuthError
from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp
from stockpred.sources.providers.newsitems import news_frame, utc_bound
from stockpred.sources.providers.x.config import INFO, MAX_PAGES, MAX_RESULTS
from stockpred.sources.providers.x.parsing import is_data, parse_search, refusal

__all__ = ["XProvider"]

_FIELDS = {
    "tweet.fields": "created_at,author_id,lang,entities",
    "expansions": "author_id",
    "user.fields": "username,name",
}


class XProvider:
    """Posts answering a query (X's search syntax), from the last seven days."""

    info: ProviderInfo = INFO

    def __init__(
        self,
        context: ProviderContext,
        *,
        policy: HttpPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_pages: int = MAX_PAGES,
        max_results: int = MAX_RESULTS,
    ) -> None:
        self._token = context.api_key
        self._max_pages = max_pages
        self._max_results = max_results
        self._http = ProviderHttp(
            INFO,
            context,
            secret_headers=("Authorization",),
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
        if not self._token:
            raise ProviderAuthError(
                "x needs an app bearer token; set STOCKPRED_X_BEARER_TOKEN",
                provider="x",
                symbol=query,
            )
        params = {"query": query, "max_results": str(self._max_results), **_FIELDS}
        low, high = utc_bound(since), utc_bound(until)
        if low is not None:
            params["start_time"] = f"{low:%Y-%m-%dT%H:%M:%SZ}"
        if high is not None:
            params["end_time"] = f"{high:%Y-%m-%dT%H:%M:%SZ}"
        items: list[dict[str, object]] = []
        token: str | None = None
        for _ in range(self._max_pages):
            page = {**params, "next_token": token} if token else params
            response = self._http.get(
                "/2/tweets/search/recent",
                params=page,
                endpoint="search_recent",
                symbol=query,
                headers={"Authorization": f"Bearer {self._token}"},
            )
            text = response.text.replace(self._token, "***")
            if response.status != 200:
                raise refusal(response.status, text, query=query)
            found, token = parse_search(text, query=query)
            items.extend(found)
            if token is None:
                break
        return news_frame(items, query=query, tickers=tickers, since=since, until=until)

    def close(self) -> None:
        self._http.close()

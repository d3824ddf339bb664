"""The Google News adapter: ``/rss/search?q=...&hl=en-US&gl=US&ceid=US:en``.

One request per query: the feed has no pages (it holds up to about 100 items). Publication
bounds go into the query as Google's ``after:``/``before:`` operators and are applied again to
the items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pandas as pd

from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.googlenews.config import EDITION, INFO
from stockpred.sources.providers.googlenews.parsing import is_feed, parse_search_feed
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp, raise_for_status
from stockpred.sources.providers.newsitems import news_frame, utc_bound

__all__ = ["GoogleNewsProvider"]


class GoogleNewsProvider:
    """Headlines answering a search, with their publisher and publication time."""

    info: ProviderInfo = INFO

    def __init__(
        self,
        context: ProviderContext,
        *,
        policy: HttpPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._http = ProviderHttp(INFO, context, policy=policy, cacheable=is_feed, clock=clock)

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
        terms = [query]
        low, high = utc_bound(since), utc_bound(until)
        if low is not None:
            terms.append(f"after:{low:%Y-%m-%d}")
        if high is not None:
            # before: is exclusive of the day named.
            terms.append(f"before:{high + pd.Timedelta(days=1):%Y-%m-%d}")
        params = {"q": " ".join(terms), **EDITION}
        response = self._http.get("/rss/search", params=params, endpoint="search", symbol=query)
        raise_for_status(response, provider=INFO.name, symbol=query)
        items = parse_search_feed(response.text, query=query)
        return news_frame(items, query=query, tickers=tickers, since=since, until=until)

    def close(self) -> None:
        self._http.close()

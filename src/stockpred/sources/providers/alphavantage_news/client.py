"""The Alpha Vantage news adapter: ``/query?function=NEWS_SENTIMENT&tickers=...``.

Alpha Vantage searches by ticker, not by words: the tickers asked for are the query, and the
free-text ``query`` is only recorded. One call returns up to ``LIMIT`` items; there are no pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pandas as pd

from stockpred.domain.errors import ProviderAuthError
from stockpred.sources.providers.alphavantage_news.config import FEED_TIMEZONE, INFO, LIMIT
from stockpred.sources.providers.alphavantage_news.parsing import is_data, parse_news_sentiment
from stockpred.sources.providers.base import ProviderContext, ProviderInfo
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp, decode_json, raise_for_status
from stockpred.sources.providers.newsitems import news_frame, url_id, utc_bound

__all__ = ["AlphaVantageNewsProvider"]


class AlphaVantageNewsProvider:
    """News mentioning the tickers asked for, newest first from Alpha Vantage."""

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

    def fetch_news(
        self,
        query: str,
        *,
        tickers: Sequence[str],
        since: pd.Timestamp | None,
        until: pd.Timestamp | None,
    ) -> pd.DataFrame:
        symbols = ",".join(t.upper() for t in tickers) or query.upper()
        if not self._key:
            raise ProviderAuthError(
                "alphavantage_news needs an API key; set STOCKPRED_ALPHA_VANTAGE_API_KEY",
                provider=INFO.name,
                symbol=symbols,
            )
        params = {
            "function": "NEWS_SENTIMENT",
            "tickers": symbols,
            "sort": "LATEST",
            "limit": str(LIMIT),
            "apikey": self._key,
        }
        low, high = utc_bound(since), utc_bound(until)
        if low is not None:
            params["time_from"] = f"{low.tz_convert(FEED_TIMEZONE):%Y%m%dT%H%M}"
        if high is not None:
            params["time_to"] = f"{high.tz_convert(FEED_TIMEZONE):%Y%m%dT%H%M}"
        response = self._http.get(
            "/query", params=params, endpoint="news_sentiment", symbol=symbols
        )
        raise_for_status(response, provider=INFO.name, symbol=symbols)
        # Alpha Vantage quotes the key back in its quota messages: never let it travel further.
        body = decode_json(
            response.text.replace(self._key, "***"), provider=INFO.name, symbol=symbols
        )
        items = parse_news_sentiment(body, query=symbols, now=self._clock())
        for item in items:
            item["id"] = url_id(str(item["url"]))
        return news_frame(items, query=query, tickers=tickers, since=since, until=until)

    def close(self) -> None:
        self._http.close()

"""Alpha Vantage NEWS_SENTIMENT JSON, and its refusals, which arrive with HTTP 200.

Data is ``{"items": "n", "sentiment_score_definition": ..., "feed": [...]}``; each feed entry
has ``title``, ``url``, ``time_published`` (``20240105T143000``), ``summary``, ``source``,
``overall_sentiment_score`` and a ``ticker_sentiment`` list. Refusals: ``{"Error Message": ...}``
(a missing or invalid key), ``{"Information": "Invalid inputs..."}`` (an unknown ticker or bad
parameter) and ``{"Information"|"Note": "...rate limit..."}`` (the per-minute or daily quota).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    QuotaExhaustedError,
    UnknownSymbolError,
)
from stockpred.sources.providers.alphavantage_news.config import FEED_TIMEZONE

__all__ = ["is_data", "parse_news_sentiment"]

_NAME = "alphavantage_news"


def is_data(body: str) -> bool:
    """Whether a 200 answer holds a feed (and may be cached) rather than a refusal."""
    return '"feed"' in body


def _refusal(body: dict[str, object], *, query: str, now: datetime) -> ProviderError | None:
    error = body.get("Error Message")
    if isinstance(error, str):
        if "apikey" in error.lower():
            return ProviderAuthError(
                "alphavantage_news refused the API key (missing or invalid); set "
                "STOCKPRED_ALPHA_VANTAGE_API_KEY",
                provider=_NAME,
                symbol=query,
            )
        return ProviderError(
            f"alphavantage_news refused the call for {query} ({error[:120]})",
            provider=_NAME,
            symbol=query,
        )
    for key in ("Information", "Note"):
        text = body.get(key)
        if not isinstance(text, str):
            continue
        lower = text.lower()
        if "invalid inputs" in lower:
            return UnknownSymbolError(
                f"alphavantage_news does not know the ticker(s) {query} (invalid inputs); "
                "check the symbols",
                provider=_NAME,
                symbol=query,
            )
        if "premium" in lower and "rate limit" not in lower:
            return ProviderAuthError(
                f"alphavantage_news: this call needs a premium plan ({text[:120]})",
                provider=_NAME,
                symbol=query,
            )
        local = now.astimezone(FEED_TIMEZONE)
        reset = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return QuotaExhaustedError(
            f"alphavantage_news quota exhausted ({text[:100]}...); it resets around "
            f"{reset:%Y-%m-%d %H:%M} New York time",
            provider=_NAME,
            symbol=query,
            reset_at=reset,
        )
    return None


def parse_news_sentiment(body: object, *, query: str, now: datetime) -> list[dict[str, object]]:
    """Items (id, published_at, source, title, url, text) of the feed."""
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"alphavantage_news's answer for {query} is not a JSON object",
            provider=_NAME,
            symbol=query,
        )
    refusal = _refusal(body, query=query, now=now)
    if refusal is not None:
        raise refusal
    feed = body.get("feed")
    if not isinstance(feed, list):
        raise MalformedResponseError(
            f"alphavantage_news's answer for {query} has no 'feed' list; keys: {list(body)}",
            provider=_NAME,
            symbol=query,
        )
    items: list[dict[str, object]] = []
    for number, entry in enumerate(feed, start=1):
        if not isinstance(entry, dict):
            raise MalformedResponseError(
                f"alphavantage_news feed entry {number} for {query} is not an object",
                provider=_NAME,
                symbol=query,
            )
        missing = [k for k in ("title", "url", "time_published") if not entry.get(k)]
        if missing:
            raise MalformedResponseError(
                f"alphavantage_news feed entry {number} for {query} lacks {missing}",
                provider=_NAME,
                symbol=query,
            )
        stamp = pd.to_datetime(
            str(entry["time_published"]), format="%Y%m%dT%H%M%S", errors="coerce"
        )
        if pd.isna(stamp):
            raise MalformedResponseError(
                f"alphavantage_news feed entry {number} for {query} has a 'time_published' "
                f"that is not YYYYMMDDTHHMMSS: {entry['time_published']!r}",
                provider=_NAME,
                symbol=query,
            )
        items.append(
            {
                "id": None,  # no article id: the client hashes the URL
                "published_at": stamp.tz_localize(FEED_TIMEZONE).tz_convert("UTC"),
                "source": str(entry.get("source") or "Alpha Vantage"),
                "title": str(entry["title"]).strip(),
                "url": str(entry["url"]),
                "text": str(entry.get("summary") or ""),
            }
        )
    return items

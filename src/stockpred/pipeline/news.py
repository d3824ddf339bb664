"""Ingest news: fetch per ticker, dedupe, map to tickers, score sentiment, upsert headlines.

A failure for one ticker (a rejected query, a malformed answer) is reported and the run goes on;
a provider that is down or out of quota stops being asked, and the run says so. Running twice
writes nothing new the second time: ids are stable, the score is deterministic, and an article
already stored under another id (another provider, a syndicated copy) is not stored again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from stockpred.domain.errors import ProviderError, ProviderUnavailableError, QuotaExhaustedError
from stockpred.pipeline.fetch import Failure
from stockpred.quality.news import headlines_from_items
from stockpred.sentiment.base import SentimentScorer
from stockpred.sentiment.daily import aggregate_daily_sentiment
from stockpred.sources.providers.base import NEWS_ITEM_COLUMNS, NewsProvider
from stockpred.store.base import Store, WriteResult

__all__ = ["NewsIngest", "default_query", "ingest_news"]

# How far before the earliest fetched item stored headlines are read to catch repeats.
_LOOKBACK = pd.Timedelta(days=3)


@dataclass(frozen=True, slots=True)
class NewsIngest:
    """What a news run fetched per ticker, what it wrote, and what failed."""

    written: WriteResult
    daily: WriteResult
    fetched: dict[str, int]
    headlines: int
    duplicates: int
    scorer: str | None
    failures: list[Failure] = field(default_factory=list)


def default_query(ticker: str, company_name: str | None = None) -> str:
    """The search for ``ticker``: the symbol, or the symbol OR the quoted company name."""
    if company_name and company_name.strip():
        return f'{ticker} OR "{company_name.strip()}"'
    return ticker


def _failure(symbol: str, exc: ProviderError) -> Failure:
    return Failure(symbol=symbol, kind=exc.code, message=str(exc))


def ingest_news(
    store: Store,
    provider: NewsProvider,
    tickers: Sequence[str],
    *,
    now: datetime,
    query: str | None = None,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    company_names: Mapping[str, str] | None = None,
    scorer: SentimentScorer | None = None,
    on_symbol: Callable[[str], None] | None = None,
) -> NewsIngest:
    """Fetch news for each of ``tickers`` and upsert one headline row per (id, ticker).

    ``query`` replaces the default search (the ticker, OR its company name when
    ``company_names`` knows it). ``scorer`` fills ``sentiment`` from the title; without one it
    is left missing. ``until`` defaults to ``now``: nothing published later is stored.
    """
    symbols = list(dict.fromkeys(t.strip().upper() for t in tickers))
    names = {k.upper(): v for k, v in (company_names or {}).items()}
    # ``now`` bounds what is kept but is not sent: a query that changes every second would
    # never be answered from the cache.
    limit = pd.Timestamp(until if until is not None else now)
    limit = limit.tz_localize("UTC") if limit.tzinfo is None else limit.tz_convert("UTC")
    frames: list[pd.DataFrame] = []
    fetched: dict[str, int] = {}
    failures: list[Failure] = []
    down: ProviderUnavailableError | QuotaExhaustedError | None = None
    for symbol in symbols:
        if down is not None:
            failures.append(Failure(symbol, "skipped", f"not asked: {down}"))
        else:
            text = query or default_query(symbol, names.get(symbol))
            try:
                items = provider.fetch_news(text, tickers=[symbol], since=since, until=until)
            except (ProviderUnavailableError, QuotaExhaustedError) as exc:
                failures.append(_failure(symbol, exc))
                down = exc
            except ProviderError as exc:
                failures.append(_failure(symbol, exc))
            else:
                items = items[pd.to_datetime(items["published_at"], utc=True) <= limit]
                frames.append(items)
                fetched[symbol] = len(items)
        if on_symbol is not None:
            on_symbol(symbol)
    items = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=list(NEWS_ITEM_COLUMNS))
    )
    existing = None
    if not items.empty:
        first = pd.Timestamp(items["published_at"].min()) - _LOOKBACK
        existing = store.read_headlines(tickers=symbols, start=first)
    headlines = headlines_from_items(
        items, universe=symbols, company_names=names, existing=existing
    )
    if scorer is not None and not headlines.empty:
        scores = scorer.score(headlines["title"].astype(str).tolist())
        headlines["sentiment"] = [s.score for s in scores]
    written = store.write_headlines(headlines) if not headlines.empty else WriteResult()
    daily = WriteResult()
    if scorer is not None and not headlines.empty:
        daily = _store_daily_sentiment(store, headlines, scorer=scorer.name)
    return NewsIngest(
        written=written,
        daily=daily,
        fetched=fetched,
        headlines=len(headlines),
        duplicates=len(items) - headlines["id"].nunique() if not items.empty else 0,
        scorer=scorer.name if scorer is not None else None,
        failures=failures,
    )


def _store_daily_sentiment(store: Store, headlines: pd.DataFrame, *, scorer: str) -> WriteResult:
    """Recompute the daily aggregates of every (ticker, day) the new headlines touch, over all
    the headlines stored for that day, and store them (a changed day is a new vintage row)."""
    published = pd.to_datetime(headlines["published_at"], utc=True)
    first = published.min().floor("D")
    last = published.max().floor("D") + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    tickers = sorted(headlines["ticker"].astype(str).unique())
    stored = store.read_headlines(tickers=tickers, start=first, end=last)
    daily = aggregate_daily_sentiment(stored)
    if daily.empty:
        return WriteResult()
    return store.write_sentiment(daily.assign(scorer=scorer))

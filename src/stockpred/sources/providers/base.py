"""What a provider adapter is: its description, its kind, and the calls each kind answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import pandas as pd

__all__ = [
    "NEWS_ITEM_COLUMNS",
    "MacroProvider",
    "NewsProvider",
    "PriceProvider",
    "ProviderContext",
    "ProviderInfo",
    "RateLimit",
    "StatusListener",
]

Kind = Literal["prices", "news", "macro"]
# What a news adapter returns, one row per item: ``tickers`` is the tuple of tickers the query
# was asked for; ``text`` may be empty.
NEWS_ITEM_COLUMNS: tuple[str, ...] = (
    "id",
    "published_at",
    "source",
    "title",
    "url",
    "text",
    "query",
    "tickers",
)
# (provider, ok, detail) after every network call: feeds `stockpred sources`.
StatusListener = Callable[[str, bool, str], None]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The provider's published quota: ``requests`` per ``seconds`` (and per day, if any)."""

    requests: int
    seconds: float
    per_day: int | None = None

    def describe(self) -> str:
        if self.seconds == 1:
            text = f"{self.requests}/s"
        elif self.seconds == 60:
            text = f"{self.requests}/min"
        else:
            text = f"{self.requests} per {self.seconds:g}s"
        return text + (f", {self.per_day}/day" if self.per_day else "")


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider as `stockpred sources` lists it."""

    name: str
    kind: Kind
    title: str
    base_url: str
    rate_limit: RateLimit
    key_setting: str | None  # the settings field holding its key; None when keyless
    endpoints_ttl: dict[str, float] = field(default_factory=dict)
    # Adapters of one account share one quota (Alpha Vantage prices and news); default: name.
    quota_group: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What the composition root hands every adapter: where to reach it and with what."""

    base_url: str
    api_key: str | None = None
    cache_dir: Path | None = None
    timeout_s: float = 15.0
    on_status: StatusListener | None = None
    sleep: Callable[[float], None] | None = None
    # A paid plan's quota, when it differs from the free one the adapter declares.
    rate_limit: RateLimit | None = None


@runtime_checkable
class PriceProvider(Protocol):
    """Daily bars for one symbol at a time."""

    info: ProviderInfo

    def fetch_bars(
        self, symbol: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        """Raw bars: ticker, date, open, high, low, close, volume[, adj_close] as the provider
        gave them (validation happens in the pipeline). Dates naive, the exchange's local day."""
        ...


@runtime_checkable
class MacroProvider(Protocol):
    """Observations of one macro series, every vintage, each with when it became known."""

    info: ProviderInfo

    def fetch_series(
        self, series_id: str, *, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        """Columns of the macro contract: series_id, period, released_at (UTC), value, source."""
        ...


@runtime_checkable
class NewsProvider(Protocol):
    """News items answering one query, every page of them."""

    info: ProviderInfo

    def fetch_news(
        self,
        query: str,
        *,
        tickers: Sequence[str],
        since: pd.Timestamp | None,
        until: pd.Timestamp | None,
    ) -> pd.DataFrame:
        """Raw items with the columns of ``NEWS_ITEM_COLUMNS``: id (the provider's, or a stable
        hash of the URL), published_at (UTC), source (the publisher), title, url, text, and the
        query and tickers they answered. ``since``/``until`` bound publication, UTC."""
        ...

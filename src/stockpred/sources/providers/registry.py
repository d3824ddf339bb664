"""Providers by name. Adding a provider is one folder plus one line here."""

from __future__ import annotations

from collections.abc import Callable

from stockpred.domain.errors import ConfigurationError
from stockpred.sources.providers import (
    alphavantage,
    alphavantage_news,
    fred,
    googlenews,
    nasdaqdatalink,
    newsapi,
    stooq,
    worldbank,
    x,
    yahoo,
)
from stockpred.sources.providers.base import (
    MacroProvider,
    NewsProvider,
    PriceProvider,
    ProviderContext,
    ProviderInfo,
)

__all__ = ["PROVIDERS", "macro_provider", "news_provider", "price_provider", "provider_info"]

PROVIDERS: dict[str, ProviderInfo] = {
    info.name: info
    for info in (
        stooq.INFO,
        alphavantage.INFO,
        fred.INFO,
        nasdaqdatalink.INFO,
        yahoo.INFO,
        worldbank.INFO,
        googlenews.INFO,
        newsapi.INFO,
        x.INFO,
        alphavantage_news.INFO,
    )
}

_PRICES: dict[str, Callable[[ProviderContext], PriceProvider]] = {
    "stooq": stooq.StooqProvider,
    "alphavantage": alphavantage.AlphaVantageProvider,
    "nasdaqdatalink": nasdaqdatalink.NasdaqDataLinkProvider,
    "yahoo": yahoo.YahooProvider,
}
_NEWS: dict[str, Callable[[ProviderContext], NewsProvider]] = {
    "googlenews": googlenews.GoogleNewsProvider,
    "newsapi": newsapi.NewsApiProvider,
    "x": x.XProvider,
    "alphavantage_news": alphavantage_news.AlphaVantageNewsProvider,
}
_MACRO: dict[str, Callable[[ProviderContext], MacroProvider]] = {
    "fred": fred.FredProvider,
    "worldbank": worldbank.WorldBankProvider,
}


def provider_info(name: str) -> ProviderInfo:
    try:
        return PROVIDERS[name.lower()]
    except KeyError:
        raise ConfigurationError(
            f"unknown provider {name!r}; known: {', '.join(sorted(PROVIDERS))} "
            "(`stockpred sources` lists them)"
        ) from None


def _pick(kind: str, table: dict[str, Callable[[ProviderContext], object]], name: str) -> str:
    info = provider_info(name)
    if info.name not in table:
        offered = ", ".join(sorted(table))
        raise ConfigurationError(
            f"{info.name} is a {info.kind} provider; for {kind} use: {offered}"
        )
    return info.name


def price_provider(name: str, context: ProviderContext) -> PriceProvider:
    """The price adapter called ``name``, reaching its service through ``context``."""
    return _PRICES[_pick("prices", dict(_PRICES), name)](context)


def macro_provider(name: str, context: ProviderContext) -> MacroProvider:
    """The macro adapter called ``name``."""
    return _MACRO[_pick("macro", dict(_MACRO), name)](context)


def news_provider(name: str, context: ProviderContext) -> NewsProvider:
    """The news adapter called ``name``."""
    return _NEWS[_pick("news", dict(_NEWS), name)](context)

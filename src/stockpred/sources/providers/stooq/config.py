"""Stooq's endpoint, quota and cache lifetimes."""

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["INFO"]

INFO = ProviderInfo(
    name="stooq",
    kind="prices",
    title="Stooq daily CSV",
    base_url="https://stooq.com",
    # No published quota; Stooq answers "Exceeded the daily hits limit" when a client overdoes it.
    rate_limit=RateLimit(requests=1, seconds=1, per_day=None),
    key_setting=None,
    endpoints_ttl={"daily": 6 * 3600.0},
)

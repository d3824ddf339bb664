"""FRED's endpoint, quota and cache lifetimes."""

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["INFO", "PAGE_SIZE"]

INFO = ProviderInfo(
    name="fred",
    kind="macro",
    title="FRED / ALFRED series observations",
    base_url="https://api.stlouisfed.org",
    rate_limit=RateLimit(requests=120, seconds=60),
    key_setting="fred_api_key",
    endpoints_ttl={"observations": 12 * 3600.0},
)
# FRED's maximum page (``limit``) for series/observations.
PAGE_SIZE = 100_000

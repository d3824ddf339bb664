"""The World Bank indicator API's endpoint, polite rate and cache lifetimes."""

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["DEFAULT_COUNTRY", "INFO", "PAGE_SIZE"]

INFO = ProviderInfo(
    name="worldbank",
    kind="macro",
    title="World Bank indicators",
    base_url="https://api.worldbank.org",
    # No published quota and no key; a polite pace well below what the API tolerates.
    rate_limit=RateLimit(requests=5, seconds=1),
    key_setting=None,
    # The indicators are updated a few times a year; a day-old answer is as good as a new one.
    endpoints_ttl={"indicator": 24 * 3600.0},
)
# Rows per page (the API's default is 50; larger pages spend fewer calls).
PAGE_SIZE = 1000
# A series id without ``COUNTRY:`` is read for this country (ISO 3166 alpha-3).
DEFAULT_COUNTRY = "USA"

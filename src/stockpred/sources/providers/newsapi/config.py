"""NewsAPI's endpoint, the developer plan's quota and the cache lifetime of a search."""

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["INFO", "MAX_PAGES", "PAGE_SIZE"]

# The largest page NewsAPI serves, and how many pages one query may spend.
PAGE_SIZE = 100
MAX_PAGES = 5

INFO = ProviderInfo(
    name="newsapi",
    kind="news",
    title="NewsAPI /v2/everything",
    base_url="https://newsapi.org",
    # The developer plan: 100 requests a day (and results capped at 100 per query).
    rate_limit=RateLimit(requests=1, seconds=1, per_day=100),
    key_setting="newsapi_api_key",
    endpoints_ttl={"everything": 15 * 60.0},
)

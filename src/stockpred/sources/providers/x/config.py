"""X API v2's endpoint, the Basic tier's quota for recent search and the cache lifetime."""

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["INFO", "MAX_PAGES", "MAX_RESULTS"]

# The largest page recent search serves, and how many pages one query may spend.
MAX_RESULTS = 100
MAX_PAGES = 5

INFO = ProviderInfo(
    name="x",
    kind="news",
    title="X API v2 recent search",
    base_url="https://api.x.com",
    # Basic tier, per app: 60 recent-search requests per 15 minutes.
    rate_limit=RateLimit(requests=60, seconds=900),
    key_setting="x_bearer_token",
    endpoints_ttl={"search_recent": 15 * 60.0},
)

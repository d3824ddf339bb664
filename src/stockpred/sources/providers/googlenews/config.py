"""Google News RSS: its endpoint, a polite rate and the cache lifetime of a search."""

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["EDITION", "INFO"]

# The US English edition: hl (interface language), gl (country), ceid (country:language).
EDITION = {"hl": "en-US", "gl": "US", "ceid": "US:en"}

INFO = ProviderInfo(
    name="googlenews",
    kind="news",
    title="Google News RSS search",
    base_url="https://news.google.com",
    # Google publishes no quota for the RSS feeds; it answers 429/503 to bursts. One a second
    # keeps a run over a universe polite.
    rate_limit=RateLimit(requests=1, seconds=1),
    key_setting=None,
    endpoints_ttl={"search": 15 * 60.0},
)

"""Yahoo Finance's chart endpoint, polite rate and cache lifetimes."""

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["INFO", "USER_AGENT"]

INFO = ProviderInfo(
    name="yahoo",
    kind="prices",
    title="Yahoo Finance chart (daily)",
    base_url="https://query2.finance.yahoo.com",
    # Yahoo publishes no quota and answers 429 to clients it finds too eager: 2 requests a second
    # is a polite pace that a daily batch over a few hundred tickers never notices.
    rate_limit=RateLimit(requests=2, seconds=1),
    key_setting=None,
    # intraday: what the polling feed asks every minute; a second caller within 20 s (another
    # process polling the same symbol) is answered from the cache.
    endpoints_ttl={"chart": 6 * 3600.0, "intraday": 20.0},
)
# Yahoo refuses (429) the default python-requests agent; a plain browser-like one is accepted.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) stockpred"

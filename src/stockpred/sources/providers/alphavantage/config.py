"""Alpha Vantage's endpoint, free-tier quota and cache lifetimes."""

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["INFO"]

INFO = ProviderInfo(
    name="alphavantage",
    kind="prices",
    title="Alpha Vantage daily adjusted",
    base_url="https://www.alphavantage.co",
    # The free tier: 5 requests a minute and 25 a day, the strictest of our providers.
    rate_limit=RateLimit(requests=5, seconds=60, per_day=25),
    key_setting="alpha_vantage_api_key",
    # intraday_recent: the latest 100 bars a poll asks for, fresh for a minute's poll and still
    # shared by another caller within 20 s.
    endpoints_ttl={
        "daily": 12 * 3600.0,
        "intraday": 300.0,
        "intraday_recent": 20.0,
        "quote": 60.0,
    },
)

"""Alpha Vantage NEWS_SENTIMENT: endpoint, free-tier quota, cache lifetime, feed time zone."""

from zoneinfo import ZoneInfo

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["FEED_TIMEZONE", "INFO", "LIMIT"]

# The most items one call returns (the default is 50).
LIMIT = 1000
# ``time_published`` carries no zone; Alpha Vantage states its other timestamps in US/Eastern.
FEED_TIMEZONE = ZoneInfo("America/New_York")

INFO = ProviderInfo(
    name="alphavantage_news",
    kind="news",
    title="Alpha Vantage NEWS_SENTIMENT",
    base_url="https://www.alphavantage.co",
    # The same free-tier key and quota as the daily prices: 5 a minute, 25 a day.
    rate_limit=RateLimit(requests=5, seconds=60, per_day=25),
    key_setting="alpha_vantage_api_key",
    endpoints_ttl={"news_sentiment": 30 * 60.0},
    quota_group="alphavantage",
)

"""Nasdaq Data Link's endpoints, quota, cache lifetimes and the default price table."""

from stockpred.sources.providers.base import ProviderInfo, RateLimit

__all__ = ["DEFAULT_TABLE", "INFO", "PAGE_SIZE"]

INFO = ProviderInfo(
    name="nasdaqdatalink",
    kind="prices",
    title="Nasdaq Data Link tables and time-series",
    base_url="https://data.nasdaq.com",
    # Authenticated users: 300 calls per 10 seconds and 50,000 calls a day.
    rate_limit=RateLimit(requests=300, seconds=10, per_day=50_000),
    key_setting="nasdaq_data_link_api_key",
    endpoints_ttl={"datatable": 6 * 3600.0, "dataset": 6 * 3600.0},
)
# The table a plain ticker is read from; its columns are ticker, date, open, high, low, close,
# volume, dividend, split, adj_open, adj_high, adj_low, adj_close, adj_volume.
DEFAULT_TABLE = "QUOTEMEDIA/PRICES"
# Rows per Tables API page (``qopts.per_page``); the API's maximum is 10,000.
PAGE_SIZE = 10_000

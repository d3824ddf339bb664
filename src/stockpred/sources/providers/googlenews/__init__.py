"""Google News RSS search: headlines for a query, no key."""

from stockpred.sources.providers.googlenews.client import GoogleNewsProvider
from stockpred.sources.providers.googlenews.config import INFO

__all__ = ["INFO", "GoogleNewsProvider"]

"""X (Twitter) API v2 recent search: posts from the last seven days for a query."""

from stockpred.sources.providers.x.client import XProvider
from stockpred.sources.providers.x.config import INFO

__all__ = ["INFO", "XProvider"]

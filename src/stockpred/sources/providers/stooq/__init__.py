"""Stooq: free daily CSV prices, no key."""

from stockpred.sources.providers.stooq.client import StooqProvider
from stockpred.sources.providers.stooq.config import INFO

__all__ = ["INFO", "StooqProvider"]

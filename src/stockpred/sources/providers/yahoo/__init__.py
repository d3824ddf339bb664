"""Yahoo Finance: daily bars from the chart endpoint (the one ``yfinance`` reads), no key."""

from stockpred.sources.providers.yahoo.client import YahooProvider
from stockpred.sources.providers.yahoo.config import INFO

__all__ = ["INFO", "YahooProvider"]

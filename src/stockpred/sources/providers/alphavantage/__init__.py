"""Alpha Vantage: daily adjusted prices (TIME_SERIES_DAILY_ADJUSTED)."""

from stockpred.sources.providers.alphavantage.client import AlphaVantageProvider
from stockpred.sources.providers.alphavantage.config import INFO

__all__ = ["INFO", "AlphaVantageProvider"]

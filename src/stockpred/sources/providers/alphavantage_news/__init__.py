"""Alpha Vantage NEWS_SENTIMENT: news about tickers, with Alpha Vantage's own sentiment."""

from stockpred.sources.providers.alphavantage_news.client import AlphaVantageNewsProvider
from stockpred.sources.providers.alphavantage_news.config import INFO

__all__ = ["INFO", "AlphaVantageNewsProvider"]

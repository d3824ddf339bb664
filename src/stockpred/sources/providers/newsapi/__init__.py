"""NewsAPI: articles from ``/v2/everything`` for a query."""

from stockpred.sources.providers.newsapi.client import NewsApiProvider
from stockpred.sources.providers.newsapi.config import INFO

__all__ = ["INFO", "NewsApiProvider"]

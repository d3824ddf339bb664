"""FRED (Federal Reserve Bank of St. Louis): macro series with every vintage (ALFRED)."""

from stockpred.sources.providers.fred.client import FredProvider
from stockpred.sources.providers.fred.config import INFO

__all__ = ["INFO", "FredProvider"]

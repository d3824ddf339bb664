"""Nasdaq Data Link (formerly Quandl): the Tables API and the time-series API."""

from stockpred.sources.providers.nasdaqdatalink.client import NasdaqDataLinkProvider
from stockpred.sources.providers.nasdaqdatalink.config import INFO

__all__ = ["INFO", "NasdaqDataLinkProvider"]

"""World Bank: indicator API (World Development Indicators and others), paginated, no key."""

from stockpred.sources.providers.worldbank.client import WorldBankProvider
from stockpred.sources.providers.worldbank.config import INFO

__all__ = ["INFO", "WorldBankProvider"]

"""The composition root: concrete adapters chosen from the settings, in one place."""

from __future__ import annotations

from stockpred.domain.errors import ConfigurationError
from stockpred.settings import Settings
from stockpred.store.duckdb import DuckDBStore

__all__ = ["open_store"]


def open_store(settings: Settings) -> DuckDBStore:
    """The store the settings name; migrated and ready."""
    if settings.store == "duckdb":
        return DuckDBStore(settings.store_path)
    raise ConfigurationError(f"unknown store {settings.store!r}; use 'duckdb'")

"""Storage: the store protocol, the table contracts and their backends."""

from stockpred.store.base import Store, WriteResult
from stockpred.store.schema import TABLES, TableSpec

__all__ = ["TABLES", "Store", "TableSpec", "WriteResult"]

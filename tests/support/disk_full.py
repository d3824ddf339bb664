"""A DuckDB connection on a disk that fills up: the failure DuckDB gives, injected.

When the disk is full, DuckDB's COMMIT fails writing its log ("Could not write file ...wal: No
space left on device") and ends the transaction itself, so a ROLLBACK after it fails too ("cannot
rollback - no transaction is active"). This wrapper does the same on demand, over a real
connection, so a test can check that the store reports the first error and stays as it was.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from stockpred.store import duckdb as duckdb_store

__all__ = ["DiskFullConnection", "fill_disk_on_commit"]


class DiskFullConnection:
    """A real connection whose COMMIT fails as on a full disk while ``full`` is set."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str) -> None:
        self._connection = connection
        self._path = path
        self.full = False

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        if self.full and query.strip().upper() == "COMMIT":
            self._connection.execute("ROLLBACK")
            raise duckdb.TransactionException(
                f'TransactionContext Error: Failed to commit: Could not write file "{self._path}'
                '.wal": No space left on device'
            )
        return self._connection.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def fill_disk_on_commit(monkeypatch: pytest.MonkeyPatch) -> list[DiskFullConnection]:
    """Make every DuckDB store opened from now on fail its commits as on a full disk; returns
    the connections so made (their ``full`` can be cleared)."""
    made: list[DiskFullConnection] = []
    connect = duckdb_store._connect

    def full_connect(path: str, *, wait_seconds: float) -> Any:
        connection = DiskFullConnection(connect(path, wait_seconds=wait_seconds), path)
        connection.full = True
        made.append(connection)
        return connection

    monkeypatch.setattr(duckdb_store, "_connect", full_connect)
    return made

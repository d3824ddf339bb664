"""The store protocol: what every backend (DuckDB embedded, PostgreSQL) provides.

Frames in and out use the data-contract columns; timestamps are UTC-aware. Writes are upserts by
natural key, all-or-nothing per call. Reads that could see the future take ``as_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

__all__ = ["Store", "WriteResult"]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What an upsert did: rows new to the table, rows whose values changed, rows already there."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@runtime_checkable
class Store(Protocol):
    """Tables of DESIGN.md behind one interface. Implementations must pass tests/contract."""

    def schema_version(self) -> int:
        """The migration version the store is at."""
        ...

    def write_bars(self, bars: pd.DataFrame) -> WriteResult:
        """Upsert bars keyed by (ticker, ts); all rows or none."""
        ...

    def read_bars(
        self,
        *,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Bars with ``start <= ts <= end`` and ``ts <= as_of``, sorted by ticker and ts."""
        ...

    def delete_bars(self, *, before: pd.Timestamp) -> int:
        """Delete every bar with ``ts < before`` (after archiving them); returns how many."""
        ...

    def bar_coverage(self) -> pd.DataFrame:
        """Per ticker: first (ts), last (ts), rows, sources (comma-separated)."""
        ...

    def has_ticker(self, ticker: str) -> bool:
        """Whether any bar of ``ticker`` is stored (an index lookup, not a scan: for the
        request path)."""
        ...

    def write_intraday_bars(self, bars: pd.DataFrame) -> WriteResult:
        """Upsert intraday bars keyed by (ticker, interval, ts): the bars contract's columns
        plus ``interval``; all rows or none."""
        ...

    def read_intraday_bars(
        self,
        *,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Intraday bars with ``start <= ts <= end``, sorted by ticker, interval and ts."""
        ...

    def write_headlines(self, headlines: pd.DataFrame) -> WriteResult:
        """Upsert headlines keyed by (id, ticker)."""
        ...

    def read_headlines(
        self,
        *,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Headlines published in [start, end] and no later than ``as_of``."""
        ...

    def latest_headlines(self, *, ticker: str, limit: int) -> pd.DataFrame:
        """The newest ``limit`` (>= 1) headlines of ``ticker``, newest first (ties by id): the
        headlines contract's columns; empty when it has none."""
        ...

    def write_macro(self, points: pd.DataFrame) -> WriteResult:
        """Upsert macro points keyed by (series_id, period, released_at); revisions are rows."""
        ...

    def read_macro(
        self,
        *,
        series_ids: Sequence[str] | None = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """For each (series_id, period) the latest value released no later than ``as_of``."""
        ...

    def write_sentiment(self, daily: pd.DataFrame) -> WriteResult:
        """Upsert daily sentiment aggregates keyed by (ticker, day, scorer, released_at)."""
        ...

    def read_sentiment(
        self,
        *,
        scorer: str,
        tickers: Sequence[str] | None = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Per (ticker, day) the latest aggregate of ``scorer`` released no later than ``as_of``."""
        ...

    def write_features(self, feature_set: str, frame: pd.DataFrame) -> WriteResult:
        """Upsert one feature set's rows keyed by (ticker, ts), all or none.

        ``frame``: ticker, ts, then one float column per feature (NaN for undefined). The first
        write of a set fixes its columns in that order; a later write must carry the same
        ones (a set whose outputs change is a new version), else nothing is written.
        """
        ...

    def read_features(
        self,
        *,
        feature_set: str,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """One set's rows with ``start <= ts <= end``: ticker, ts, then its feature columns,
        sorted by ticker and ts. A set never written reads as an empty ticker, ts frame."""
        ...

    def feature_coverage(self, feature_set: str) -> pd.DataFrame:
        """Per ticker of one set: first (ts), last (ts), rows; empty for a set never written."""
        ...

    def feature_sets(self) -> dict[str, tuple[str, ...]]:
        """Every stored feature set with its columns, in the order they are stored."""
        ...

    def write_predictions(self, predictions: pd.DataFrame) -> WriteResult:
        """Upsert predictions keyed by (ticker, as_of, horizon, target, model, model_version)."""
        ...

    def read_predictions(
        self,
        *,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Stored predictions with ``start <= as_of <= end``."""
        ...

    def write_monitoring(self, table: str, frame: pd.DataFrame) -> WriteResult:
        """Upsert the monitor's rows into ``table``, one of ``schema.MONITORING_TABLES``
        (``model_performance``, ``model_drift``), keyed by horizon, model version, session
        and model or subject."""
        ...

    def read_monitoring(
        self,
        table: str,
        *,
        horizon: int | None = None,
        model_version: str | None = None,
        start: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Rows of a monitoring ``table`` with ``session >= start``, by session."""
        ...

    def export_parquet(
        self, table: str, directory: Path, *, partition_by: str | None = None
    ) -> Path:
        """Write a whole table as Parquet under ``directory``: ``<table>.parquet``, or a
        hive-partitioned folder ``<table>/<column>=<value>/`` with ``partition_by``. Rows are in
        key order; timestamps stay UTC. Returns the file or folder written."""
        ...

    def close(self) -> None:
        """Release the connection; the store is unusable afterwards."""
        ...

"""Move old bars to the Parquet archive, and read history across archive and store as one.

Archiving writes the archive first and deletes from the store after: a crash in between leaves
the bars in both places (nothing lost), and running again finishes the job (the archive merges).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from stockpred.store.archive import ParquetArchive
from stockpred.store.base import Store

__all__ = ["ArchiveResult", "archive_bars", "read_history"]


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    moved: int
    cutoff: pd.Timestamp
    tickers: int


def archive_bars(store: Store, archive: ParquetArchive, *, before: pd.Timestamp) -> ArchiveResult:
    """Move every bar with ``ts < before`` (UTC-aware) from the store to the archive."""
    old = store.read_bars(end=before - pd.Timedelta(microseconds=1))
    if old.empty:
        return ArchiveResult(moved=0, cutoff=before, tickers=0)
    archive.write_bars(old)
    deleted = store.delete_bars(before=before)
    return ArchiveResult(moved=deleted, cutoff=before, tickers=int(old["ticker"].nunique()))


def read_history(
    store: Store,
    archive: ParquetArchive | None,
    *,
    tickers: Sequence[str] | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Bars from the archive and the store together; where both hold a bar, the store's wins."""
    recent = store.read_bars(tickers=tickers, start=start, end=end, as_of=as_of)
    if archive is None:
        return recent
    old = archive.read_bars(tickers=tickers, start=start, end=end, as_of=as_of)
    if old.empty:
        return recent
    both = pd.concat([old, recent], ignore_index=True) if not recent.empty else old
    return (
        both.drop_duplicates(["ticker", "ts"], keep="last")
        .sort_values(["ticker", "ts"])
        .reset_index(drop=True)
    )

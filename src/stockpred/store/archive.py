"""The bar archive: Parquet files partitioned by ticker and year, on a local folder or S3.

``fsspec`` gives one interface over both: ``file:///srv/archive`` or ``s3://bucket/prefix`` (any
S3-compatible server through ``endpoint_url`` in the storage options; S3 needs the ``s3`` extra).
Writing a partition merges with what it already holds, keyed by (ticker, ts), so archiving twice
changes nothing and a corrected bar replaces the archived one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote, unquote

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stockpred.domain.errors import StoreError
from stockpred.domain.records import BAR_COLUMNS

__all__ = ["ParquetArchive"]

_FILE = "bars.parquet"


class ParquetArchive:
    """Archived bars under ``url``: ``bars/ticker=<T>/year=<Y>/bars.parquet``."""

    def __init__(self, url: str, *, storage_options: Mapping[str, object] | None = None) -> None:
        if url.startswith("s3://"):
            from stockpred.extras import import_optional

            import_optional("s3fs", extra="s3", purpose="an archive on S3")
        try:
            self._fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        except (ValueError, ImportError) as exc:
            raise StoreError(f"cannot open the archive {url}: {exc}") from exc
        self._root = root.rstrip("/")
        self.url = url

    def _partition(self, ticker: str, year: int) -> str:
        return f"{self._root}/bars/ticker={quote(ticker, safe='')}/year={year}/{_FILE}"

    def _read_file(self, path: str) -> pd.DataFrame:
        with self._fs.open(path, "rb") as handle:
            frame: pd.DataFrame = pq.read_table(handle).to_pandas()
        return frame

    def write_bars(self, bars: pd.DataFrame) -> int:
        """Merge ``bars`` (the bars contract) into their partitions; returns rows written."""
        if bars.empty:
            return 0
        data = bars.loc[:, list(BAR_COLUMNS)].assign(_year=pd.DatetimeIndex(bars["ts"]).year)
        written = 0
        for ticker, year in sorted(set(zip(data["ticker"], data["_year"], strict=True))):
            part = data[(data["ticker"] == ticker) & (data["_year"] == year)].drop(columns="_year")
            path = self._partition(str(ticker), int(year))
            stored = [self._read_file(path)] if self._fs.exists(path) else []
            merged = (
                pd.concat([*stored, part], ignore_index=True)
                .drop_duplicates(["ticker", "ts"], keep="last")
                .sort_values("ts")
                .reset_index(drop=True)
            )
            self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            temporary = path + ".tmp"
            with self._fs.open(temporary, "wb") as handle:
                pq.write_table(pa.Table.from_pandas(merged, preserve_index=False), handle)
            # Replace in one step, so a reader never sees half a partition.
            self._fs.mv(temporary, path)
            written += len(merged)
        return written

    def tickers(self) -> list[str]:
        base = f"{self._root}/bars"
        if not self._fs.exists(base):
            return []
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in self._fs.ls(base, detail=False)]
        return sorted(unquote(n.split("=", 1)[1]) for n in names if n.startswith("ticker="))

    def read_bars(
        self,
        *,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Archived bars with ``start <= ts <= end`` and ``ts <= as_of``, by ticker and ts."""
        wanted = [t.upper() for t in tickers] if tickers is not None else self.tickers()
        first_year = start.year if start is not None else None
        last = min((t for t in (end, as_of) if t is not None), default=None)
        frames = []
        for ticker in wanted:
            folder = f"{self._root}/bars/ticker={quote(ticker, safe='')}"
            if not self._fs.exists(folder):
                continue
            for entry in sorted(self._fs.ls(folder, detail=False)):
                year = int(entry.rstrip("/").rsplit("=", 1)[-1])
                if (first_year is not None and year < first_year) or (
                    last is not None and year > last.year
                ):
                    continue
                frames.append(self._read_file(f"{entry.rstrip('/')}/{_FILE}"))
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in BAR_COLUMNS})
        out = pd.concat(frames, ignore_index=True)
        keep = pd.Series(True, index=out.index)
        if start is not None:
            keep &= out["ts"] >= start
        if end is not None:
            keep &= out["ts"] <= end
        if as_of is not None:
            keep &= out["ts"] <= as_of
        return out[keep].sort_values(["ticker", "ts"]).reset_index(drop=True)

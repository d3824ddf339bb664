"""A stream sink in memory: what a processor writes, kept in lists and dicts (tests,
benchmarks, and a processor whose output only needs publishing)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from stockpred.domain.records import Bar, Prediction

__all__ = ["MemorySink"]


class MemorySink:
    """A ``StreamSink`` (``stream/processor.py``) whose writes are upserts on the same keys as
    the store's: forecasts by (ticker, as_of, horizon, model version), intraday bars by
    (ticker, interval, ts)."""

    def __init__(self) -> None:
        self.rows: list[pd.DataFrame] = []
        self.bars: list[Bar] = []
        self.forecasts: dict[tuple[str, datetime, int, str], Prediction] = {}
        self.intraday: dict[tuple[str, str, datetime], Bar] = {}

    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        self.rows.append(rows)
        self.bars += bars

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None:
        for f in forecasts:
            self.forecasts[(f.ticker, f.as_of, f.horizon, f.model_version)] = f

    def read_rows(
        self, feature_set: str, tickers: Sequence[str], ts: datetime, *, depth: int
    ) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame()
        rows = pd.concat(self.rows, ignore_index=True)
        rows = rows[rows["ticker"].isin(list(tickers)) & (rows["ts"] <= pd.Timestamp(ts))]
        rows = rows.drop_duplicates(["ticker", "ts"], keep="last").sort_values(["ticker", "ts"])
        return rows.groupby("ticker", sort=True).tail(depth).reset_index(drop=True)

    def write_intraday_bars(self, bars: Sequence[Bar]) -> None:
        for bar in bars:
            self.intraday[(bar.ticker, bar.interval, bar.ts)] = bar

    def read_intraday_bars(self, *, start: datetime, end: datetime) -> list[Bar]:
        return sorted(
            (b for b in self.intraday.values() if start < b.ts <= end),
            key=lambda b: (b.ticker, b.interval, b.ts),
        )

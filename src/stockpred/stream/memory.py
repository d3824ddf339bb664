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
    the store's: forecasts by (ticker, as_of, horizon, model version), sessions so far by
    (stream, ticker, session)."""

    def __init__(self) -> None:
        self.rows: list[pd.DataFrame] = []
        self.bars: list[Bar] = []
        self.forecasts: dict[tuple[str, datetime, int, str], Prediction] = {}
        self.open_sessions: dict[tuple[str, str, datetime], Bar] = {}

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

    def write_session_bars(
        self,
        stream: str,
        open_sessions: Sequence[tuple[datetime, Bar]],
        *,
        committed_through: datetime | None,
    ) -> None:
        for close, bar in open_sessions:
            self.open_sessions[(stream, bar.ticker, close)] = bar
        if committed_through is not None:
            for key in [k for k in self.open_sessions if k[0] == stream]:
                if key[2] <= committed_through:
                    del self.open_sessions[key]

    def read_session_bars(
        self, stream: str, *, after: datetime | None
    ) -> list[tuple[datetime, Bar]]:
        return sorted(
            (
                (close, bar)
                for (name, _, close), bar in self.open_sessions.items()
                if name == stream and (after is None or close > after)
            ),
            key=lambda item: (item[0], item[1].ticker),
        )

    def delete_session_bars(self, stream: str) -> None:
        for key in [k for k in self.open_sessions if k[0] == stream]:
            del self.open_sessions[key]

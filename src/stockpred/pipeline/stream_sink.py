"""Where the stream processor's output lands: the store (``stream/processor.py``'s
``StreamSink``). Every write is an upsert on the record's natural key, so a session handled
twice (a redelivery after a crash) stores nothing twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import pandas as pd

from stockpred.domain.errors import StoreError
from stockpred.domain.frames import bars_frame, bars_of
from stockpred.domain.records import Bar, Prediction
from stockpred.pipeline.predict import forecast_records
from stockpred.pipeline.serving import StoreOpener
from stockpred.store.base import Store

__all__ = ["StoreStreamSink"]

T = TypeVar("T")

# How long a write waits for the embedded store while another process reads it.
STORE_BUSY_SECONDS = 30.0


class StoreStreamSink:
    """Bars, feature rows and forecasts of each session into the store ``open_store`` opens
    (for one use each: the embedded file admits one writing process at a time, so a write
    waits up to ``STORE_BUSY_SECONDS`` while another process holds it)."""

    def __init__(self, open_store: StoreOpener, *, keep_bars: bool = True) -> None:
        self._open_store = open_store
        # False for a replay of stored bars: they are in the store already.
        self._keep_bars = keep_bars

    def _with_store(self, job: Callable[[Store], T]) -> T:
        deadline = time.monotonic() + STORE_BUSY_SECONDS
        while True:
            try:
                with self._open_store() as store:
                    return job(store)
            except StoreError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        """The session's feature rows, then its bars: a crash between the two leaves the bars
        out, so the restarted state takes the session again (and writes the same rows)."""

        def write(store: Store) -> None:
            store.write_features(feature_set, rows)
            if self._keep_bars and bars:
                store.write_bars(bars_frame(bars))

        self._with_store(write)

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None:
        if forecasts:
            records = forecast_records(forecasts)
            self._with_store(lambda store: store.write_predictions(records))

    def read_rows(
        self, feature_set: str, tickers: Sequence[str], ts: datetime, *, depth: int
    ) -> pd.DataFrame:
        """The last ``depth`` stored rows up to ``ts`` of each of ``tickers``."""
        stamp = pd.Timestamp(ts)

        def read(store: Store) -> pd.DataFrame:
            rows = store.read_features(feature_set=feature_set, tickers=list(tickers), end=stamp)
            return rows.groupby("ticker", sort=True).tail(depth).reset_index(drop=True)

        return self._with_store(read)

    def write_intraday_bars(self, bars: Sequence[Bar]) -> None:
        """Intraday bars as received, an upsert on (ticker, interval, ts)."""
        if not bars:
            return
        frame = bars_frame(bars)
        frame.insert(2, "interval", [b.interval for b in bars])
        self._with_store(lambda store: store.write_intraday_bars(frame))

    def read_intraday_bars(self, *, start: datetime, end: datetime) -> list[Bar]:
        """The intraday bars kept with ``start < ts <= end``."""
        first, last = pd.Timestamp(start), pd.Timestamp(end)
        frame = self._with_store(lambda store: store.read_intraday_bars(start=first, end=last))
        return [b for b in bars_of(frame) if b.ts > start] if not frame.empty else []

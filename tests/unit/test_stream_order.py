"""The processor closes a session only once it is complete, whatever order the bus interleaves
tickers in: a Kafka topic keeps one key's order, not the order across keys (partitions)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from stockpred.bus.inprocess import InProcessBus
from stockpred.bus.topics import BARS
from stockpred.domain.records import Bar, Prediction
from stockpred.features.sets import get_feature_set
from stockpred.stream.features import SessionFeatures, bars_of
from stockpred.stream.processor import StreamProcessor

TICKERS, WARM, LIVE = 12, 300, 8


def _bars() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = WARM + LIVE
    days = pd.bdate_range("2021-01-01", periods=n, tz="UTC") + pd.Timedelta(hours=21)
    frames = []
    for name in ["^GSPC", *(f"S{i:02d}" for i in range(TICKERS))]:
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        frames.append(
            pd.DataFrame(
                {
                    "ticker": name, "ts": days, "open": close, "high": close * 1.01,
                    "low": close * 0.99, "close": close, "adj_close": close,
                    "volume": rng.integers(1_000, 9_000, n).astype(float),
                }
            )
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True)


class _Keep:
    def __init__(self) -> None:
        self.rows: list[pd.DataFrame] = []

    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        self.rows.append(rows)

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None:
        return None

    def read_rows(self, *_: object, **__: object) -> pd.DataFrame:
        raise AssertionError("nothing is delivered twice here")


class _NoForecaster:
    horizons: tuple[int, ...] = ()
    context_rows = 1

    def forecast(self, rows: pd.DataFrame, **_: object) -> list[Prediction]:
        return []

    def reload(self) -> bool:
        return False


def _state(bars: pd.DataFrame, until: pd.Timestamp) -> SessionFeatures:
    state = SessionFeatures(get_feature_set("daily_v1"))
    state.warm(bars[bars["ts"] <= until])
    return state


def test_sessions_interleaved_across_tickers_give_the_in_order_rows() -> None:
    bars = _bars()
    days = sorted(bars["ts"].unique())
    until = pd.Timestamp(days[WARM - 1])
    live = bars[bars["ts"] > until].sort_values(["ts", "ticker"])
    in_order = _state(bars, until)
    reference = pd.concat(
        [in_order.close_session(bars_of(s)) for _, s in live.groupby("ts", sort=True)],
        ignore_index=True,
    )
    # Three "partitions": every session of one group of tickers, then the next group's.
    partition = {t: i % 3 for i, t in enumerate(sorted(live["ticker"].unique()))}
    shuffled = live.assign(p=live["ticker"].map(partition)).sort_values(["p", "ts", "ticker"])
    sink = _Keep()

    async def run() -> None:
        bus = InProcessBus()
        processor = StreamProcessor(
            _state(bars, until),
            bus,
            _NoForecaster(),
            sink=sink,
            clock=lambda: datetime(2022, 1, 1, tzinfo=UTC),
            idle_close=0.3,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run(stop))
        # In small pieces, so that the processor fetches between them, as from a broker.
        for _, piece in shuffled.groupby(["p", "ts"], sort=False):
            await bus.publish_many(BARS, [(b.ticker, b) for b in bars_of(piece)])
            await asyncio.sleep(0.01)
        while processor.stats.sessions < LIVE:
            assert not running.done()
            await asyncio.sleep(0.02)
        stop.set()
        await running

    asyncio.run(run())

    got = pd.concat(sink.rows, ignore_index=True)
    assert len(sink.rows) == LIVE  # one close per session, none split
    pd.testing.assert_frame_equal(
        got.sort_values(["ts", "ticker"]).reset_index(drop=True),
        reference.sort_values(["ts", "ticker"]).reset_index(drop=True),
        rtol=1e-12,
        atol=1e-12,
    )

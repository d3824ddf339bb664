"""The stream processor end to end on the in-process bus: the last sessions of the sample
replayed through ``bars`` give, for every session, the features `features build` stored and the
forecasts the champions give from them (`predict`), published on ``predictions``."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from stockpred.bus.base import Bus
from stockpred.bus.inprocess import InProcessBus
from stockpred.bus.topics import BARS, FEATURES, PREDICTIONS
from stockpred.compose import open_registry
from stockpred.domain.frames import bars_of
from stockpred.domain.records import Bar, FeaturesWritten, Prediction
from stockpred.features.sets import get_feature_set
from stockpred.pipeline.forecasting import ChampionForecaster
from stockpred.pipeline.predict import predict_ticker
from stockpred.pipeline.serving import ChampionCache
from stockpred.settings import load_settings
from stockpred.sources.feeds.replay import ReplayFeed
from stockpred.store.duckdb import DuckDBStore
from stockpred.stream.features import SessionFeatures
from stockpred.stream.memory import MemorySink
from stockpred.stream.processor import StreamProcessor

NOW = datetime(2013, 3, 2, tzinfo=UTC)
REPLAYED = 10  # sessions


class _Sink(MemorySink):
    """Keeps what the processor writes."""

    def __init__(self, written: list[pd.DataFrame]) -> None:
        super().__init__()
        self.written = written
        self.forecasts: list[Prediction] = []

    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        self.written.append(rows)

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None:
        self.forecasts += forecasts

    def read_rows(
        self, feature_set: str, tickers: Sequence[str], ts: datetime, *, depth: int
    ) -> pd.DataFrame:
        raise AssertionError("a replay without redeliveries reads nothing back")


async def _publish(feed: ReplayFeed, bus: Bus) -> None:
    async for batch in feed.batches():
        await bus.publish_many(BARS, [(b.ticker, b) for b in batch.bars])


async def _run(
    processor: StreamProcessor, feed: ReplayFeed, bus: Bus
) -> tuple[list[Prediction], list[FeaturesWritten]]:
    listener = await bus.subscribe(PREDICTIONS, group="test", consumer="t")
    features = await bus.subscribe(FEATURES, group="test", consumer="t")
    stop = asyncio.Event()
    running = asyncio.create_task(processor.run(stop))
    await _publish(feed, bus)
    deadline = asyncio.get_running_loop().time() + 120
    while processor.stats.sessions < feed.sessions:
        assert asyncio.get_running_loop().time() < deadline, processor.stats
        assert not running.done(), running.result()
        await asyncio.sleep(0.05)
    stop.set()
    await running
    got = await listener.fetch(max_records=10_000, timeout=0.5)
    written = await features.fetch(max_records=10_000, timeout=0.5)
    return (
        [d.record for d in got if isinstance(d.record, Prediction)],
        [d.record for d in written if isinstance(d.record, FeaturesWritten)],
    )


def test_replayed_sessions_give_the_stored_features_and_the_champions_forecasts(
    home_copy: Path,
) -> None:
    home = home_copy
    settings = load_settings()
    feature_set = get_feature_set("daily_v1")
    registry = open_registry(settings)
    champions = ChampionCache(registry, horizons=(1, 5), cache=home / "models")
    champions.reload()
    written: list[pd.DataFrame] = []
    with DuckDBStore(settings.store_path) as store:
        bars = store.read_bars()
        # The sample's indices run on past its stocks (to 2018): replay the stocks' last days.
        closes = sorted(bars.loc[bars["ticker"] == "AAPL", "ts"].unique())
        cut, end = closes[-REPLAYED - 1], closes[-1]
        state = SessionFeatures(feature_set, macro=store.read_macro(as_of=pd.Timestamp(NOW)))
        state.warm(bars[bars["ts"] <= cut])
        stored = store.read_features(feature_set=feature_set.key)
        expected = {
            (t, h): predict_ticker(
                store, registry, ticker=t, horizon=h, cache=home / "models", now=NOW
            )
            for t in ("AAPL", "GOOG", "IBM", "MSFT")
            for h in (1, 5)
        }
    bus = InProcessBus()
    processor = StreamProcessor(
        state,
        bus,
        ChampionForecaster(champions, feature_set=feature_set.key),
        sink=_Sink(written),
        clock=lambda: NOW,
        idle_close=0.2,
    )
    feed = ReplayFeed(bars_of(bars[(bars["ts"] > cut) & (bars["ts"] <= end)]))

    forecasts, announced = asyncio.run(_run(processor, feed, bus))

    assert feed.sessions == REPLAYED
    assert processor.stats.sessions == REPLAYED
    # The rows written are the stored ones, session by session.
    rows = pd.concat(written, ignore_index=True).sort_values(["ticker", "ts"])
    later = stored[pd.DatetimeIndex(stored["ts"]) > pd.Timestamp(cut)]
    later = later.sort_values(["ticker", "ts"])
    assert len(rows) == len(later) > 0
    diff = rows.iloc[:, 2:].to_numpy(float) - later.iloc[:, 2:].to_numpy(float)
    assert math.isclose(float(pd.DataFrame(diff).abs().max().max(skipna=True)), 0.0, abs_tol=1e-9)
    # One forecast per ticker, horizon and session; the last session's equal `predict`'s.
    assert len(forecasts) == 2 * len(rows)
    assert len(announced) == REPLAYED
    last = {
        (f.ticker, f.horizon): f for f in forecasts if f.as_of == max(x.as_of for x in forecasts)
    }
    for key, want in expected.items():
        got = last[key]
        assert got.as_of == want.as_of
        assert got.model_version == want.model_version
        assert math.isclose(got.value, want.value, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(got.last_close, want.last_close, rel_tol=1e-12)

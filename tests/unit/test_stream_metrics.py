"""The stream's metrics: what the processor counts as it takes bars on the in-process bus,
the bus lag sampled in the background, and /metrics served on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from stockpred.bus.inprocess import InProcessBus
from stockpred.bus.topics import BARS
from stockpred.domain.frames import bars_of
from stockpred.domain.records import Bar, Prediction
from stockpred.features.sets import get_feature_set
from stockpred.monitor.process_metrics import start_metrics_server
from stockpred.monitor.stream_metrics import PrometheusStreamMetrics, sample_bus_lag
from stockpred.stream.features import SessionFeatures
from stockpred.stream.memory import MemorySink
from stockpred.stream.processor import StreamProcessor

TICKERS, WARM = 6, 300


def _bars() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = WARM + 1
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


class _Sink(MemorySink):
    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        return None

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None:
        return None


class _OneHorizon:
    horizons = (1,)
    context_rows = 1

    def forecast(
        self, rows: pd.DataFrame, *, last_close: object, now: datetime
    ) -> list[Prediction]:
        return [
            Prediction(
                ticker=str(r.ticker), as_of=r.ts, horizon=1, target="log_return", value=0.0,
                lower=np.nan, upper=np.nan, direction_prob=np.nan, model="ridge",
                model_version="3", created_at=now,
            )
            for r in rows.itertuples()
        ]  # fmt: skip

    def reload(self) -> bool:
        return False


@dataclass(frozen=True)
class _Version:
    version: int


@dataclass(frozen=True)
class _Champion:
    horizon: int
    version: _Version
    kind: str
    feature_set: str


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, (name, labels)
    return value


def test_the_processor_counts_bars_forecasts_by_kind_and_the_committed_session() -> None:
    bars = _bars()
    days = sorted(bars["ts"].unique())
    state = SessionFeatures(get_feature_set("daily_v1"))
    state.warm(bars[bars["ts"] <= days[WARM - 1]])
    close = pd.Timestamp(days[WARM])
    session = bars_of(bars[bars["ts"] == close])
    # Two minute bars per ticker before the close (15:00 and 15:30 UTC), then the daily bar.
    minutes = [
        dataclasses.replace(
            b, ts=(close - pd.Timedelta(hours=h)).to_pydatetime(), interval="1m", adj_close=None
        )
        for h in (6.0, 5.5)
        for b in session
    ]
    registry = CollectorRegistry()
    metrics = PrometheusStreamMetrics(registry)

    async def run() -> StreamProcessor:
        bus = InProcessBus()
        processor = StreamProcessor(
            state,
            bus,
            _OneHorizon(),
            sink=_Sink(),
            clock=lambda: datetime(2022, 1, 1, tzinfo=UTC),
            idle_close=0.3,
            metrics=metrics,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run(stop))
        await processor.ready.wait()
        for batch in (minutes[: len(session)], minutes[len(session) :]):
            await bus.publish_many(BARS, [(b.ticker, b) for b in batch])
            await asyncio.sleep(0.3)
        await bus.publish_many(BARS, [(b.ticker, b) for b in session])
        for _ in range(500):
            if processor.stats.sessions >= 1:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await running
        return processor

    stats = asyncio.run(run()).stats

    assert stats.sessions == 1
    assert stats.nowcasts > 0
    assert stats.forecasts > 0
    assert _value(registry, "stockpred_stream_bars_total") == stats.bars + stats.intraday
    assert stats.intraday == len(minutes)
    provisional = {"kind": "provisional"}
    committed = {"kind": "committed"}
    assert _value(registry, "stockpred_stream_forecasts_total", **provisional) == stats.nowcasts
    assert _value(registry, "stockpred_stream_forecasts_total", **committed) == stats.forecasts
    assert _value(registry, "stockpred_stream_sessions_committed_total") == 1
    latency = "stockpred_stream_bar_to_forecast_seconds_count"
    assert _value(registry, latency, **committed) == 1
    assert _value(registry, latency, **provisional) >= 1
    # The buckets reach down to a millisecond, for the 20 ms target.
    assert (
        registry.get_sample_value(
            "stockpred_stream_bar_to_forecast_seconds_bucket", {"kind": "committed", "le": "0.001"}
        )
        is not None
    )


def test_the_bus_lag_is_sampled_for_the_group_and_follows_its_acknowledgements() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusStreamMetrics(registry)
    bars = bars_of(_bars().head(5))

    async def run() -> tuple[float | None, float | None]:
        bus = InProcessBus()
        subscription = await bus.subscribe(BARS, group="stream", consumer="c")
        await bus.publish_many(BARS, [(b.ticker, b) for b in bars])
        stop = asyncio.Event()
        sampler = asyncio.create_task(
            sample_bus_lag(bus, metrics, topics=[(BARS, "stream")], every=0.05, stop=stop)
        )
        await asyncio.sleep(0.15)
        before = registry.get_sample_value("stockpred_bus_lag", {"topic": BARS, "group": "stream"})
        await subscription.ack(await subscription.fetch(max_records=100, timeout=0.2))
        await asyncio.sleep(0.15)
        after = registry.get_sample_value("stockpred_bus_lag", {"topic": BARS, "group": "stream"})
        stop.set()
        await sampler
        return before, after

    before, after = asyncio.run(run())

    assert before == 5
    assert after == 0


def test_metrics_are_served_on_loopback_with_the_champions_served() -> None:
    registry = CollectorRegistry()
    champions = [_Champion(5, _Version(7), "ridge", "daily_v1")]
    PrometheusStreamMetrics(registry, champions=lambda: champions).bars_taken(3)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = start_metrics_server(registry, host="127.0.0.1", port=port)
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        champions[0] = _Champion(5, _Version(8), "ridge", "daily_v1")  # a promotion
        promoted = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        stop()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("stockpred_stream_bars_total", ())] == 3
    info = (("feature_set", "daily_v1"), ("horizon", "5"), ("model", "ridge"))
    assert samples[("stockpred_model_info", (*info[:3], ("model_version", "7")))] == 1
    assert 'model_version="8"' in promoted
    assert 'model_version="7"' not in promoted

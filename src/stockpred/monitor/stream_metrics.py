"""The stream processor's metrics in Prometheus form (``stream.metrics.StreamMetrics``), and
the bus lag of its consumer group sampled in the background (never per bar)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from stockpred.domain.errors import BusError
from stockpred.monitor.process_metrics import ModelInfoCollector, ServedChampion

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from stockpred.bus.base import Bus

__all__ = ["LATENCY_BUCKETS", "PrometheusStreamMetrics", "sample_bus_lag"]

_LOG = logging.getLogger("stockpred.monitor")

# Seconds, 1 ms to 1 s: around the targets of 20 ms in process and 100 ms through a broker.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
)


class PrometheusStreamMetrics:
    """The stream's series on ``registry`` (a private one: never prometheus_client's global):
    bars, forecasts by kind, sessions committed, bar-to-forecast latency, bus lag by topic and
    group, and the champions forecast with (``champions()``, read at scrape time)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        champions: Callable[[], Iterable[ServedChampion]] | None = None,
    ) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.registry = registry
        self._bars = Counter(
            "stockpred_stream_bars",
            "Bars taken from the bars topic (daily, and intraday folded into a session)",
            registry=registry,
        )
        forecasts = Counter(
            "stockpred_stream_forecasts",
            "Forecasts published, by kind (provisional: of a session still open; committed)",
            ("kind",),
            registry=registry,
        )
        # Children made once: a batch costs a dict lookup, not labels()'s lock and key.
        self._forecasts = {kind: forecasts.labels(kind) for kind in ("provisional", "committed")}
        self._sessions = Counter(
            "stockpred_stream_sessions_committed",
            "Sessions whose rows, bars and forecasts were written and deliveries acknowledged",
            registry=registry,
        )
        latency = Histogram(
            "stockpred_stream_bar_to_forecast_seconds",
            "Seconds from bars in hand to their forecasts published, by kind",
            ("kind",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._latency = {kind: latency.labels(kind) for kind in ("provisional", "committed")}
        self.lag = Gauge(
            "stockpred_bus_lag",
            "Records of a topic the consumer group has not acknowledged yet (sampled)",
            ("topic", "group"),
            registry=registry,
        )
        if champions is not None:
            registry.register(ModelInfoCollector(champions))

    def bars_taken(self, count: int) -> None:
        if count:
            self._bars.inc(count)

    def forecasts_published(self, kind: str, count: int) -> None:
        self._forecasts[kind].inc(count)

    def session_committed(self) -> None:
        self._sessions.inc()

    def bar_to_forecast(self, kind: str, seconds: float) -> None:
        self._latency[kind].observe(seconds)


async def sample_bus_lag(
    bus: Bus,
    metrics: PrometheusStreamMetrics,
    *,
    topics: Iterable[tuple[str, str]],
    every: float = 5.0,
    stop: asyncio.Event,
) -> None:
    """Set ``stockpred_bus_lag`` for each (topic, group) every ``every`` seconds until ``stop``;
    a lag the bus cannot give now (a broker down) is logged and the gauge keeps its last value."""
    pairs = list(topics)
    while not stop.is_set():
        for topic, group in pairs:
            try:
                lag = await bus.lag(topic, group=group)
            except BusError as exc:
                _LOG.warning("could not read the lag of %s/%s: %s", topic, group, exc)
                continue
            metrics.lag.labels(topic, group).set(lag)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)

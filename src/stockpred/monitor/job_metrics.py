"""The scheduler's metrics: each job's runs, outcome, duration and last success, the retrains'
outcomes, and the data gauges computed at scrape time (sessions behind per ticker, provider
errors) by a collector that caches them a few seconds.

Nothing here opens the store: the coverage comes from the scheduler's own store when its jobs
hold it (``DataCollector.coverage_seen``), never from a store opened per scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stockpred.domain.calendar import get_trading_calendar

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

__all__ = [
    "DURATION_BUCKETS",
    "DataCollector",
    "SchedulerMetrics",
    "provider_errors",
    "sessions_behind",
]

# Seconds: a news poll (a second) to a tuned retrain (an hour).
DURATION_BUCKETS: tuple[float, ...] = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class SchedulerMetrics:
    """Job and retrain series on ``registry`` (a private one)."""

    def __init__(self, registry: CollectorRegistry, *, clock: Callable[[], float] = time.time):
        from prometheus_client import Counter, Gauge, Histogram

        self.registry = registry
        self._clock = clock
        self._runs = Counter(
            "stockpred_job_runs",
            "Runs of a scheduled job, by outcome (success, failure)",
            ("task", "outcome"),
            registry=registry,
        )
        self._duration = Histogram(
            "stockpred_job_duration_seconds",
            "How long a scheduled job's runs took",
            ("task",),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._last_success = Gauge(
            "stockpred_job_last_success_timestamp_seconds",
            "When the job last succeeded (Unix seconds)",
            ("task",),
            registry=registry,
        )
        self._retrains = Counter(
            "stockpred_retrain_runs",
            "Retrains, by horizon, outcome (promoted, kept, failed) and trigger (schedule, "
            "alert, manual)",
            ("horizon", "outcome", "trigger"),
            registry=registry,
        )

    def instrument(self, job: str, run: Callable[[], str]) -> Callable[[], str]:
        """``run`` counted, timed and, on success, stamped; its exception goes on."""

        def timed() -> str:
            started = time.perf_counter()
            try:
                summary = run()
            except BaseException:
                self._record(job, "failure", time.perf_counter() - started)
                raise
            self._record(job, "success", time.perf_counter() - started)
            self._last_success.labels(job).set(self._clock())
            return summary

        return timed

    def _record(self, job: str, outcome: str, seconds: float) -> None:
        self._runs.labels(job, outcome).inc()
        self._duration.labels(job).observe(seconds)

    def retrained(self, *, horizon: int, outcome: str, trigger: str) -> None:
        """One retrain of ``horizon``: ``promoted``, ``kept`` or ``failed``, started by the
        ``schedule``, an ``alert`` or by hand (``manual``)."""
        self._retrains.labels(str(horizon), outcome, trigger).inc()


def sessions_behind(coverage: pd.DataFrame, *, calendar: str, now: datetime) -> dict[str, int]:
    """Per ticker, the exchange sessions of ``calendar`` that closed after its last stored bar
    and by ``now``: weekends and holidays are not sessions, so they never count.

    coverage: ``Store.bar_coverage()`` (ticker, first, last, rows, sources).
    """
    if coverage.empty:
        return {}
    last = pd.to_datetime(coverage["last"], utc=True)
    stamp = pd.Timestamp(now).tz_convert("UTC")
    start = last.min().tz_localize(None).normalize() - pd.Timedelta(days=1)
    end = stamp.tz_localize(None).normalize() + pd.Timedelta(days=1)
    cal = get_trading_calendar(calendar, start, end)
    closes = cal.session_closes(cal.sessions_between(start, end))
    closes = pd.DatetimeIndex(closes).tz_convert("UTC") if closes.tz else closes.tz_localize("UTC")
    # One unit for both (pandas may keep either in micro- or nanoseconds).
    closed = pd.DatetimeIndex(closes[closes <= stamp]).as_unit("ns").asi8
    lasts = pd.DatetimeIndex(last).as_unit("ns").asi8
    behind = len(closed) - np.searchsorted(closed, lasts, side="right")
    return {str(t): int(b) for t, b in zip(coverage["ticker"], behind, strict=True)}


def provider_errors(status: Mapping[str, Mapping[str, object]]) -> dict[tuple[str, str], int]:
    """(provider, kind) -> failed calls counted in the provider status file (``errors``)."""
    counts: dict[tuple[str, str], int] = {}
    for provider, entry in status.items():
        errors = entry.get("errors")
        if isinstance(errors, Mapping):
            for kind, count in errors.items():
                if isinstance(count, int):
                    counts[(str(provider), str(kind))] = count
    return counts


class DataCollector:
    """``stockpred_data_sessions_behind{ticker,provider}``,
    ``stockpred_provider_errors_total{provider,kind}`` and (given ``quotas``)
    ``stockpred_provider_quota_remaining{provider,window}``, computed at scrape time from the
    coverage last seen, the provider status file and the quota file, kept ``cache_seconds``."""

    def __init__(
        self,
        *,
        provider: str,
        calendar: str,
        status: Callable[[], Mapping[str, Mapping[str, object]]],
        clock: Callable[[], datetime],
        cache_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        quotas: Callable[[], Mapping[tuple[str, str], int]] | None = None,
    ) -> None:
        self._quotas = quotas
        self._provider = provider
        self._calendar = calendar
        self._status = status
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._coverage: pd.DataFrame | None = None
        self._cached: tuple[float, list[Metric]] | None = None

    def coverage_seen(self, coverage: pd.DataFrame) -> None:
        """The store's coverage as a job that holds the store just read it."""
        with self._lock:
            self._coverage = coverage.copy()
            self._cached = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = self._monotonic()
            if self._cached is None or now - self._cached[0] >= self._cache_seconds:
                self._cached = (now, self._families())
            families = self._cached[1]
        yield from families

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def _families(self) -> list[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        behind = GaugeMetricFamily(
            "stockpred_data_sessions_behind",
            "Exchange sessions closed since the ticker's last stored bar",
            labels=("ticker", "provider"),
        )
        if self._coverage is not None:
            counts = sessions_behind(self._coverage, calendar=self._calendar, now=self._clock())
            for ticker, count in sorted(counts.items()):
                behind.add_metric((ticker, self._provider), float(count))
        errors = CounterMetricFamily(
            "stockpred_provider_errors",
            "Provider calls that failed after retries, by provider and kind",
            labels=("provider", "kind"),
        )
        for (provider, kind), count in sorted(provider_errors(self._status()).items()):
            errors.add_metric((provider, kind), float(count))
        if self._quotas is None:
            return [behind, errors]
        left = GaugeMetricFamily(
            "stockpred_provider_quota_remaining",
            "Requests left in each window of the provider's quota (shared by every process)",
            labels=("provider", "window"),
        )
        for (provider, window), count in sorted(self._quotas().items()):
            left.add_metric((provider, window), float(count))
        return [behind, errors, left]

"""The monitor's latest figures as Prometheus series, from the stored reports
(``monitor/report.py``) through a short cache, so a scrape never waits on the store more than
once a minute, and rendered to text at most once a minute (``RenderedMetrics``): there are
hundreds of them (four per feature and champion), and building them on every scrape took a
measurable share of the API's CPU (README, monitoring).

Series (gauges; a NaN figure is left out rather than exposed as NaN):

- ``stockpred_realised_rank_ic``, ``stockpred_realised_hit_rate``, ``stockpred_realised_mae``,
  ``stockpred_realised_interval_coverage``, ``stockpred_realised_sessions`` (dates in the
  window), labels ``horizon``, ``model_version`` (the champion's), ``model``, ``role``
  (``champion`` or ``baseline``): the latest scored session;
- ``stockpred_realised_rank_ic_margin`` (champion minus best baseline) and
  ``stockpred_realised_sessions_below_baseline`` (the streak), labels ``horizon``,
  ``model_version``;
- ``stockpred_feature_drift_psi``, ``stockpred_feature_drift_psi_threshold``,
  ``stockpred_feature_drift_ks_statistic``, ``stockpred_feature_drift_ks_threshold``, labels
  ``horizon``, ``model_version``, ``feature``; the same four as ``stockpred_prediction_drift_*``
  for the forecasts, without ``feature``; ``stockpred_drift_features_over_threshold`` (how
  many columns drift by ``models/drift.drifted``);
- ``stockpred_monitor_last_session_timestamp_seconds`` (the latest session measured) and
  ``stockpred_monitor_sessions_behind`` (exchange sessions closed since then).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pandas as pd
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stockpred.models.drift import PREDICTION_SUBJECT, drifted
from stockpred.monitor.accuracy import CHAMPION_ROLE, best_baseline
from stockpred.monitor.report import MonitorReport

__all__ = ["MonitoringCollector", "RenderedMetrics", "ReportCache"]


class ReportCache:
    """The latest reports from ``read`` (which opens the store). With ``changes`` (a token
    that changes when another process writes the store: the embedded file's stat) they are read
    again only after it changed, at most once per ``ttl_seconds``; without it, once per
    ``ttl_seconds``. A read that fails keeps serving the last good reports and is retried."""

    def __init__(
        self,
        read: Callable[[], Sequence[MonitorReport]],
        *,
        ttl_seconds: float = 60.0,
        changes: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl_seconds
        self._changes = changes
        self._clock = clock
        self._reports: Sequence[MonitorReport] = ()
        self._at: float | None = None
        self._token: object = None
        self._lock = threading.Lock()
        self.failures = 0

    def _due(self, now: float) -> bool:
        if self._at is None:
            return True
        if now - self._at < self._ttl:
            return False
        if self._changes is None:
            return True
        return bool(self._changes() != self._token)

    def reports(self) -> Sequence[MonitorReport]:
        with self._lock:
            now = self._clock()
            if self._due(now):
                self._at = now
                if self._changes is not None:
                    self._token = self._changes()
                try:
                    self._reports = list(self._read())
                except Exception:  # a scrape must answer; the failure is counted
                    self.failures += 1
            return self._reports


def _gauge(name: str, documentation: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _add(gauge: GaugeMetricFamily, labels: Sequence[str], value: object) -> None:
    if value is None:
        return
    number = float(value)  # type: ignore[arg-type]
    if not math.isnan(number):
        gauge.add_metric(list(labels), number)


class MonitoringCollector(Collector):
    """Yields the series of the module docstring for each report of ``reports``;
    ``sessions_behind(ts)`` counts exchange sessions closed after ``ts`` (None: not exposed)."""

    def __init__(
        self,
        reports: Callable[[], Sequence[MonitorReport]],
        *,
        sessions_behind: Callable[[pd.Timestamp], int] | None = None,
    ) -> None:
        self._reports = reports
        self._sessions_behind = sessions_behind

    def collect(self) -> Iterator[Metric]:
        model = ("horizon", "model_version", "model", "role")
        version = ("horizon", "model_version")
        feature = ("horizon", "model_version", "feature")
        realised = {
            column: _gauge(f"stockpred_realised_{name}", text, model)
            for column, name, text in (
                ("rank_ic", "rank_ic", "Rolling mean daily rank IC of matured forecasts"),
                ("hit_rate", "hit_rate", "Rolling share of matured forecasts of the right sign"),
                ("mae", "mae", "Rolling mean absolute error of matured forecasts (log return)"),
                ("coverage", "interval_coverage", "Rolling share of outcomes inside the interval"),
                ("n_dates", "sessions", "Matured sessions in the rolling window"),
            )
        }
        margin = _gauge(
            "stockpred_realised_rank_ic_margin",
            "Champion's rolling rank IC minus the best baseline's on the same rows",
            version,
        )
        streak = _gauge(
            "stockpred_realised_sessions_below_baseline",
            "Latest scored sessions in a row with the champion below the best baseline",
            version,
        )
        drift_names = ("psi", "psi_threshold", "ks_statistic", "ks_threshold")
        feature_drift = {
            name: _gauge(f"stockpred_feature_drift_{name}", f"Feature drift: {name}", feature)
            for name in drift_names
        }
        prediction_drift = {
            name: _gauge(f"stockpred_prediction_drift_{name}", f"Forecast drift: {name}", version)
            for name in drift_names
        }
        over = _gauge(
            "stockpred_drift_features_over_threshold",
            "Columns whose PSI and KS both pass their thresholds",
            version,
        )
        last = _gauge(
            "stockpred_monitor_last_session_timestamp_seconds",
            "Close of the latest session the monitor measured (Unix seconds)",
            version,
        )
        behind = _gauge(
            "stockpred_monitor_sessions_behind",
            "Exchange sessions closed since the latest session the monitor measured",
            version,
        )
        for report in self._reports():
            keys = (str(report.horizon), report.model_version)
            latest = report.latest()
            for _, row in latest.iterrows():
                labels = (*keys, str(row["model"]), str(row["role"]))
                for column, gauge in realised.items():
                    _add(gauge, labels, row[column])
            champion = latest[latest["role"] == CHAMPION_ROLE]
            best = best_baseline(latest) if not latest.empty else None
            if not champion.empty and best is not None:
                _add(margin, keys, float(champion["rank_ic"].iloc[0]) - float(best["rank_ic"]))
            if not latest.empty:
                streak.add_metric(list(keys), float(report.below_baseline))
            drift = report.drift
            for _, row in drift.iterrows():
                subject = str(row["subject"])
                for name in drift_names:
                    if subject == PREDICTION_SUBJECT:
                        _add(prediction_drift[name], keys, row[name])
                    else:
                        _add(feature_drift[name], (*keys, subject), row[name])
            if not drift.empty:
                over.add_metric(list(keys), float(drifted(drift).sum()))
            sessions = [s for s in (report.latest_session, report.drift_session) if s is not None]
            if sessions:
                newest = max(sessions)
                last.add_metric(list(keys), newest.timestamp())
                if self._sessions_behind is not None:
                    behind.add_metric(list(keys), float(self._sessions_behind(newest)))
        yield from realised.values()
        yield margin
        yield streak
        yield from feature_drift.values()
        yield from prediction_drift.values()
        yield over
        yield last
        if self._sessions_behind is not None:
            yield behind


class RenderedMetrics:
    """``collector``'s text exposition, rendered at most once per ``every_seconds`` (the
    figures change once a session; the sessions-behind count at a session close): a scrape
    appends the bytes instead of building hundreds of series again."""

    def __init__(
        self,
        collector: Collector,
        *,
        every_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(collector)
        self._every = every_seconds
        self._clock = clock
        self._text = b""
        self._at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        with self._lock:
            now = self._clock()
            if self._at is None or now - self._at >= self._every:
                self._text = generate_latest(self._registry)
                self._at = now
            return self._text

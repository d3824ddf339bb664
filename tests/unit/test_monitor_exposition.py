"""The monitor's reports as Prometheus series: names, labels and values as stored, NaN left
out, and a cache that spares the store and survives a failed read."""

from __future__ import annotations

import math

import pandas as pd
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from stockpred.monitor.exposition import MonitoringCollector, RenderedMetrics, ReportCache
from stockpred.monitor.report import MonitorReport

SESSION = pd.Timestamp("2024-03-01 21:00", tz="UTC")


def _report() -> MonitorReport:
    performance = pd.DataFrame(
        {
            "session": [SESSION] * 3,
            "window_sessions": [63] * 3,
            "model": ["ridge", "ar1", "random_walk"],
            "role": ["champion", "baseline", "baseline"],
            "n_dates": [63, 63, 63],
            "n_rows": [630, 630, 630],
            "rank_ic": [0.02, 0.05, math.nan],
            "hit_rate": [0.52, 0.51, math.nan],
            "mae": [0.03, 0.031, 0.029],
            "coverage": [0.8, math.nan, math.nan],
        }
    )
    drift = pd.DataFrame(
        {
            "session": [SESSION] * 3,
            "window_sessions": [21] * 3,
            "subject": ["rsi_14", "vix", "prediction"],
            "psi": [3.0, 0.1, 0.4],
            "psi_threshold": [1.0, 0.25, 0.3],
            "ks_statistic": [0.7, 0.05, 0.2],
            "ks_threshold": [0.5, 0.1, 0.1],
            "n": [200, 200, 200],
        }
    )
    return MonitorReport(5, "7", performance, drift, below_baseline=3)


def _samples(
    collector: MonitoringCollector,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_latest_figures_are_exposed_with_their_labels() -> None:
    samples = _samples(MonitoringCollector(lambda: [_report()], sessions_behind=lambda ts: 2))
    champion = (("horizon", "5"), ("model", "ridge"), ("model_version", "7"), ("role", "champion"))
    assert samples[("stockpred_realised_rank_ic", champion)] == 0.02
    assert samples[("stockpred_realised_interval_coverage", champion)] == 0.8
    assert samples[("stockpred_realised_sessions", champion)] == 63
    version = (("horizon", "5"), ("model_version", "7"))
    assert math.isclose(samples[("stockpred_realised_rank_ic_margin", version)], -0.03)
    assert samples[("stockpred_realised_sessions_below_baseline", version)] == 3
    rsi = (("feature", "rsi_14"), ("horizon", "5"), ("model_version", "7"))
    assert samples[("stockpred_feature_drift_psi", rsi)] == 3.0
    assert samples[("stockpred_feature_drift_ks_threshold", rsi)] == 0.5
    assert samples[("stockpred_prediction_drift_psi", version)] == 0.4
    # rsi_14 passes both thresholds; the forecasts pass both; vix neither.
    assert samples[("stockpred_drift_features_over_threshold", version)] == 2
    assert samples[("stockpred_monitor_last_session_timestamp_seconds", version)] == (
        SESSION.timestamp()
    )
    assert samples[("stockpred_monitor_sessions_behind", version)] == 2


def test_a_nan_figure_is_left_out_not_exposed_as_nan() -> None:
    samples = _samples(MonitoringCollector(lambda: [_report()]))
    walk = (
        ("horizon", "5"),
        ("model", "random_walk"),
        ("model_version", "7"),
        ("role", "baseline"),
    )
    assert ("stockpred_realised_rank_ic", walk) not in samples
    assert samples[("stockpred_realised_mae", walk)] == 0.029
    assert not any(math.isnan(v) for v in samples.values())


def test_the_cache_reads_once_per_ttl_and_keeps_the_last_reports_when_a_read_fails() -> None:
    now = [0.0]
    calls: list[int] = []
    fail = [False]

    def read() -> list[MonitorReport]:
        calls.append(1)
        if fail[0]:
            raise OSError("the store is locked")
        return [_report()]

    cache = ReportCache(read, ttl_seconds=60, clock=lambda: now[0])
    assert len(cache.reports()) == 1
    now[0] = 59.0
    cache.reports()
    assert len(calls) == 1
    now[0], fail[0] = 61.0, True
    assert len(cache.reports()) == 1
    assert cache.failures == 1
    assert len(calls) == 2


def test_with_a_change_token_the_store_is_read_again_only_after_it_changed() -> None:
    now, token, calls = [0.0], ["a"], []

    def read() -> list[MonitorReport]:
        calls.append(1)
        return [_report()]

    cache = ReportCache(read, ttl_seconds=60, changes=lambda: token[0], clock=lambda: now[0])
    cache.reports()
    now[0] = 600.0
    cache.reports()
    assert len(calls) == 1
    token[0] = "b"
    cache.reports()
    assert len(calls) == 2


def test_the_rendered_text_is_built_once_a_minute_not_once_a_scrape() -> None:
    now, calls = [0.0], []

    def reports() -> list[MonitorReport]:
        calls.append(1)
        return [_report()]

    render = RenderedMetrics(MonitoringCollector(reports), every_seconds=60, clock=lambda: now[0])
    first = render()
    assert (
        b'stockpred_feature_drift_psi{feature="rsi_14",horizon="5",model_version="7"} 3.0' in first
    )
    now[0] = 30.0
    assert render() is first
    assert len(calls) == 1
    now[0] = 61.0
    render()
    assert len(calls) == 2

"""The scheduler's and the long CLI jobs' metrics: runs, outcomes and durations; the data
gauges (sessions behind on the exchange calendar, provider errors) computed at scrape time;
and the textfile a job leaves for node-exporter, read back with prometheus_client's parser."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from stockpred.monitor.job_metrics import DataCollector, SchedulerMetrics, sessions_behind
from stockpred.monitor.process_metrics import job_report
from stockpred.sources.providers.status import StatusFile


def _coverage(**last: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": list(last),
            "first": pd.to_datetime(["2020-01-02T21:00Z"] * len(last)),
            "last": pd.to_datetime(list(last.values())),
            "rows": 10,
            "sources": "stooq",
        }
    )


def test_a_weekend_and_a_holiday_after_the_last_bar_are_not_sessions_behind() -> None:
    # Friday 2024-03-29 was Good Friday (XNYS closed); the last bar is Thursday's close.
    coverage = _coverage(AAPL="2024-03-28T20:00Z", MSFT="2024-03-25T20:00Z")
    monday_evening = datetime(2024, 4, 1, 21, 0, tzinfo=UTC)
    monday_noon = datetime(2024, 4, 1, 16, 0, tzinfo=UTC)

    assert sessions_behind(coverage, calendar="XNYS", now=monday_noon) == {"AAPL": 0, "MSFT": 3}
    assert sessions_behind(coverage, calendar="XNYS", now=monday_evening) == {
        "AAPL": 1,
        "MSFT": 4,
    }


def test_the_data_collector_reads_coverage_and_provider_errors_and_caches_them(
    tmp_path: Path,
) -> None:
    clock_now = [datetime(2024, 4, 1, 21, 0, tzinfo=UTC)]
    status = StatusFile(tmp_path / "sources.json", clock=lambda: clock_now[0])
    status.record("stooq", False, "HTTP 503 after 3 attempts")
    status.record("stooq", False, "HTTP 429 after 3 attempts")
    status.record("stooq", False, "timed out after 15s after 3 attempts")
    status.record("stooq", False, "HTTP 503 after 3 attempts")
    status.record("stooq", True, "HTTP 200")
    ticks = [0.0]
    collector = DataCollector(
        provider="stooq",
        calendar="XNYS",
        status=status.read,
        clock=lambda: clock_now[0],
        cache_seconds=5.0,
        monotonic=lambda: ticks[0],
    )
    registry = CollectorRegistry()
    registry.register(collector)
    collector.coverage_seen(_coverage(AAPL="2024-03-28T20:00Z"))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("stockpred_data_sessions_behind", ticker="AAPL", provider="stooq") == 1
    assert value("stockpred_provider_errors_total", provider="stooq", kind="server_error") == 2
    assert value("stockpred_provider_errors_total", provider="stooq", kind="rate_limited") == 1
    assert value("stockpred_provider_errors_total", provider="stooq", kind="timeout") == 1
    # Within the cache, a new failure is not read; once it has passed, it is.
    status.record("stooq", False, "could not connect to https://stooq.com")
    ticks[0] = 1.0
    assert value("stockpred_provider_errors_total", provider="stooq", kind="connection") is None
    ticks[0] = 6.0
    assert value("stockpred_provider_errors_total", provider="stooq", kind="connection") == 1


def test_a_scheduled_job_is_counted_by_outcome_timed_and_stamped_on_success() -> None:
    registry = CollectorRegistry()
    metrics = SchedulerMetrics(registry, clock=lambda: 1_700_000_000.0)
    prices = metrics.instrument("prices", lambda: "2 tickers fetched")

    def broken() -> str:
        raise RuntimeError("provider down")

    news = metrics.instrument("news", broken)

    assert prices() == "2 tickers fetched"
    with pytest.raises(RuntimeError):
        news()
    metrics.retrained(horizon=5, outcome="kept", trigger="schedule")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("stockpred_job_runs_total", task="prices", outcome="success") == 1
    assert value("stockpred_job_runs_total", task="news", outcome="failure") == 1
    assert value("stockpred_job_duration_seconds_count", task="news") == 1
    assert value("stockpred_job_last_success_timestamp_seconds", task="prices") == 1.7e9
    assert value("stockpred_job_last_success_timestamp_seconds", task="news") is None
    assert (
        value("stockpred_retrain_runs_total", horizon="5", outcome="kept", trigger="schedule") == 1
    )


def _parsed(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def test_a_job_that_succeeds_leaves_its_run_duration_and_success_time_in_the_textfile(
    tmp_path: Path,
) -> None:
    textfile = tmp_path / "collector" / "train.prom"
    ticks = iter([100.0, 112.5])

    with job_report("train", textfile=textfile, pushgateway=None, clock=lambda: next(ticks)):
        pass

    samples = _parsed(textfile)
    assert samples[("stockpred_job_runs_total", (("outcome", "success"), ("task", "train")))] == 1
    assert samples[("stockpred_job_duration_seconds", (("task", "train"),))] == 12.5
    assert samples[("stockpred_job_last_success_timestamp_seconds", (("task", "train"),))] == 112.5


def test_a_job_that_fails_reports_the_failure_and_the_error_goes_on(tmp_path: Path) -> None:
    textfile = tmp_path / "ingest.prom"

    with (
        pytest.raises(ValueError, match="bad input"),
        job_report("ingest_prices", textfile=textfile, pushgateway=None),
    ):
        raise ValueError("bad input")

    samples = _parsed(textfile)
    failure = ("stockpred_job_runs_total", (("outcome", "failure"), ("task", "ingest_prices")))
    assert samples[failure] == 1
    assert not any(name.startswith("stockpred_job_last_success") for name, _ in samples)

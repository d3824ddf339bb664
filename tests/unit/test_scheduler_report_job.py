"""The scheduler's report job: after each session close of the exchange calendar, after the
prices, features and monitor jobs of that session, and disabled without a universe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from stockpred.cli.runtime import Runtime
from stockpred.cli.scheduler import build_jobs
from stockpred.pipeline.schedule import FeedJob
from stockpred.settings import load_settings


def _jobs(monkeypatch: pytest.MonkeyPatch, *, universe: str | None) -> dict[str, FeedJob]:
    if universe is not None:
        monkeypatch.setenv("STOCKPRED_UNIVERSE", universe)
    runtime = Runtime(settings=load_settings(), out=Console(), err=Console(stderr=True))
    return {job.name: job for job in build_jobs(runtime)}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_report_runs_after_the_monitor_of_each_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = _jobs(monkeypatch, universe='["AAPL", "MSFT"]')

    # Wednesday 2013-11-27 closes at 21:00 UTC; the price feed runs 30 minutes later.
    morning = at("2013-11-27T12:00:00")
    fired = {name: jobs[name].next_after(morning) for name in ("prices", "features", "monitor")}
    report = jobs["report"].next_after(morning)
    assert report == at("2013-11-27T22:30:00")
    assert all(moment is not None and moment < report for moment in fired.values()), fired
    # Thanksgiving is closed; Friday closes early at 18:00 UTC: the report follows that close.
    assert jobs["report"].next_after(report) == at("2013-11-29T19:30:00")
    assert jobs["report"].disabled is None
    assert "after each XNYS session close, after the monitor" in jobs["report"].when


def test_without_a_universe_the_report_job_is_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = _jobs(monkeypatch, universe=None)

    assert jobs["report"].disabled is not None
    assert "no tickers configured" in jobs["report"].disabled

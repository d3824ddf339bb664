"""The feeds' timing rules, computed from a time, never from the clock."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime, time, timedelta

import pytest

from stockpred.pipeline.schedule import (
    FeedJob,
    after_session_close,
    daily_at,
    every,
    next_runs,
    run_jobs,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_price_feed_runs_after_the_close_and_skips_thanksgiving_to_the_early_close() -> None:
    rule = after_session_close("XNYS", delay=timedelta(minutes=30))

    # Wednesday 2013-11-27: normal close 16:00 New York = 21:00 UTC, plus 30 minutes.
    assert rule(at("2013-11-27T12:00:00")) == at("2013-11-27T21:30:00")
    # After it: Thursday is Thanksgiving (closed), Friday closes early at 13:00 = 18:00 UTC.
    assert rule(at("2013-11-27T21:30:00")) == at("2013-11-29T18:30:00")


def test_price_feed_after_friday_close_waits_for_monday() -> None:
    rule = after_session_close("XNYS", delay=timedelta(minutes=30))

    assert rule(at("2013-12-06T22:00:00")) == at("2013-12-09T21:30:00")


def test_price_feed_follows_daylight_saving_time() -> None:
    rule = after_session_close("XNYS", delay=timedelta(0))

    # Summer: 16:00 New York is 20:00 UTC.
    assert rule(at("2013-07-10T12:00:00")) == at("2013-07-10T20:00:00")


def test_every_is_aligned_to_the_clock() -> None:
    rule = every(30)

    assert rule(at("2024-01-02T10:07:00")) == at("2024-01-02T10:30:00")
    assert rule(at("2024-01-02T10:30:00")) == at("2024-01-02T11:00:00")
    assert rule(at("2024-01-02T23:45:00")) == at("2024-01-03T00:00:00")


def test_every_refuses_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        every(0)


def test_daily_at_runs_today_if_not_yet_passed_else_tomorrow() -> None:
    rule = daily_at(time(13, 0))

    assert rule(at("2024-01-02T12:59:00")) == at("2024-01-02T13:00:00")
    assert rule(at("2024-01-02T13:00:00")) == at("2024-01-03T13:00:00")


def test_next_runs_lists_consecutive_times() -> None:
    job = FeedJob(name="news", when="every 15 min", next_after=every(15), run=lambda: "ok")

    runs = next_runs(job, after=at("2024-01-02T10:00:00"), count=3)

    assert runs == [at("2024-01-02T10:15:00"), at("2024-01-02T10:30:00"), at("2024-01-02T10:45:00")]


def test_scheduler_runs_enabled_jobs_reports_failures_and_skips_disabled_ones() -> None:
    def soon(moment: datetime) -> datetime:
        return max(moment, datetime.now(UTC)) + timedelta(milliseconds=100)

    def broken() -> str:
        raise RuntimeError("provider exploded")

    results: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    jobs = [
        FeedJob(name="ok", when="soon", next_after=soon, run=lambda: "fetched 3"),
        FeedJob(name="broken", when="soon", next_after=soon, run=broken),
        FeedJob(name="off", when="soon", next_after=soon, run=lambda: "never", disabled="no key"),
    ]

    scheduler = run_jobs(
        jobs,
        on_result=lambda name, summary: results.append((name, summary)),
        on_error=lambda name, exc: errors.append((name, str(exc))),
        blocking=False,
    )
    deadline = clock.monotonic() + 5
    while (not results or not errors) and clock.monotonic() < deadline:
        clock.sleep(0.05)
    scheduler.shutdown(wait=True)  # type: ignore[attr-defined]

    assert ("ok", "fetched 3") in results
    assert ("broken", "provider exploded") in errors
    assert all(name != "off" for name, _ in results + errors)

"""When each feed runs: prices after every session close, news every N minutes, macro daily.

The timing rules are pure functions of a time (``next_after(t)``), so they are tested without a
clock; :func:`run_jobs` hands them to APScheduler, which owns the waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pandas as pd

from stockpred.domain.calendar import get_trading_calendar

__all__ = [
    "FeedJob",
    "after_session_close",
    "daily_at",
    "every",
    "next_runs",
    "run_jobs",
    "weekly_at",
]

NextAfter = Callable[[datetime], datetime | None]


@dataclass(frozen=True, slots=True)
class FeedJob:
    """A scheduled feed: its name, when it runs, and what it does (returns a one-line summary).

    ``disabled`` says why the job will not run (e.g. no tickers configured), or is None.
    """

    name: str
    when: str
    next_after: NextAfter
    run: Callable[[], str]
    disabled: str | None = None


def after_session_close(calendar: str, *, delay: timedelta) -> NextAfter:
    """``delay`` after each session close of ``calendar`` (early closes and holidays included)."""

    def next_after(moment: datetime) -> datetime | None:
        day = pd.Timestamp(moment).tz_convert("UTC").tz_localize(None).normalize()
        cal = get_trading_calendar(
            calendar, day - pd.Timedelta(days=3), day + pd.Timedelta(days=20)
        )
        sessions = cal.sessions_between(day - pd.Timedelta(days=1), day + pd.Timedelta(days=20))
        fire = cal.session_closes(sessions) + pd.Timedelta(delay)
        later = fire[fire > pd.Timestamp(moment)]
        return later[0].to_pydatetime() if len(later) else None

    return next_after


def every(minutes: int) -> NextAfter:
    """Every ``minutes``, aligned to the clock (e.g. :00, :30 for 30)."""
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    step = timedelta(minutes=minutes)

    def next_after(moment: datetime) -> datetime | None:
        midnight = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        elapsed = moment.astimezone(UTC) - midnight
        return midnight + step * (elapsed // step + 1)

    return next_after


def daily_at(at: time) -> NextAfter:
    """Every day at ``at`` (UTC)."""

    def next_after(moment: datetime) -> datetime | None:
        now = moment.astimezone(UTC)
        today = datetime.combine(now.date(), at, tzinfo=UTC)
        return today if today > now else today + timedelta(days=1)

    return next_after


def weekly_at(weekday: int, at: time) -> NextAfter:
    """Every week on ``weekday`` (Monday 0 .. Sunday 6) at ``at`` (UTC)."""

    def next_after(moment: datetime) -> datetime | None:
        now = moment.astimezone(UTC)
        ahead = (weekday - now.weekday()) % 7
        candidate = datetime.combine(now.date() + timedelta(days=ahead), at, tzinfo=UTC)
        return candidate if candidate > now else candidate + timedelta(days=7)

    return next_after


def next_runs(job: FeedJob, *, after: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` times ``job`` runs after ``after``."""
    runs: list[datetime] = []
    moment: datetime | None = after
    while moment is not None and len(runs) < count:
        moment = job.next_after(moment)
        if moment is not None:
            runs.append(moment)
    return runs


def run_jobs(
    jobs: Sequence[FeedJob],
    *,
    on_result: Callable[[str, str], None],
    on_error: Callable[[str, Exception], None],
    blocking: bool = True,
) -> object:
    """Run the enabled jobs on APScheduler until interrupted; returns the scheduler.

    A job that fails reports and waits for its next time; runs of one job never overlap, and a
    run missed while the process was busy is coalesced into one.
    """
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.base import BaseTrigger

    class _Trigger(BaseTrigger):  # type: ignore[misc]
        def __init__(self, next_after: NextAfter) -> None:
            self._next_after = next_after

        def get_next_fire_time(
            self, previous_fire_time: datetime | None, now: datetime
        ) -> datetime | None:
            return self._next_after(previous_fire_time or now)

    def wrap(job: FeedJob) -> Callable[[], None]:
        def call() -> None:
            try:
                on_result(job.name, job.run())
            except Exception as exc:  # a scheduled job must not kill the scheduler
                on_error(job.name, exc)

        return call

    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=UTC)
    for job in jobs:
        if job.disabled is None:
            scheduler.add_job(
                wrap(job),
                trigger=_Trigger(job.next_after),
                id=job.name,
                name=job.name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=3600,
            )
    scheduler.start()
    return scheduler

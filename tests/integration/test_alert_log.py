"""The alert log, and the dead letters' count, on the API's database: SQLite (the default) and a
real PostgreSQL server (STOCKPRED_TEST_POSTGRES_URL, which CI sets; each test gets a database of
its own, dropped afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from stockpred.domain.errors import InvalidInputError
from stockpred.notify.alert_log import AlertLog, ReceivedAlert
from stockpred.notify.notice_store import NoticeDeadLetter, NoticeStore
from support.postgres import fresh_database

pytestmark = pytest.mark.integration

AT = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'api.db'}"
        return
    with fresh_database("stockpred_alerts") as url:
        yield url


def _alert(name: str, *, at: datetime, status: str = "firing", **extra: str) -> ReceivedAlert:
    return ReceivedAlert(
        received_at=at,
        status=status,  # type: ignore[arg-type]
        alertname=name,
        severity=extra.get("severity"),
        summary=extra.get("summary", f"{name} summary"),
        ticker=extra.get("ticker"),
    )


def test_alerts_come_back_newest_first_in_utc_and_in_their_order_within_a_delivery(
    database_url: str,
) -> None:
    log = AlertLog(database_url)
    new_york = timezone(timedelta(hours=-5))
    log.record([_alert("First", at=AT, severity="warning", ticker="AAPL")])
    later = (AT + timedelta(minutes=5)).astimezone(new_york)
    log.record([_alert("Second", at=later), _alert("Third", at=later, status="resolved")])

    recent = log.recent()

    assert [a.alertname for a in recent] == ["Third", "Second", "First"]
    assert recent[0].status == "resolved"
    assert recent[0].received_at == AT + timedelta(minutes=5)
    assert recent[0].received_at.utcoffset() == timedelta(0)
    assert recent[2] == _alert("First", at=AT, severity="warning", ticker="AAPL")
    assert recent[1].severity is None
    assert recent[1].ticker is None
    assert [a.alertname for a in log.recent(limit=1)] == ["Third"]
    log.check()
    log.close()


def test_the_log_keeps_its_alerts_across_openings_and_keeps_only_the_last_asked_for(
    database_url: str,
) -> None:
    first = AlertLog(database_url)
    first.record([_alert(f"A{i}", at=AT + timedelta(seconds=i)) for i in range(60)])
    first.close()

    reopened = AlertLog(database_url)
    recent = reopened.recent(limit=50)

    assert len(recent) == 50
    assert recent[0].alertname == "A59"
    assert recent[-1].alertname == "A10"
    reopened.close()


def test_an_alert_neither_firing_nor_resolved_is_refused_and_nothing_of_its_batch_kept(
    database_url: str,
) -> None:
    log = AlertLog(database_url)
    with pytest.raises(InvalidInputError, match="firing"):
        log.record([_alert("Good", at=AT), _alert("Bad", at=AT, status="unknown")])
    with pytest.raises(InvalidInputError, match="timezone"):
        log.record([_alert("Naive", at=AT.replace(tzinfo=None))])
    with pytest.raises(InvalidInputError, match="limit"):
        log.recent(limit=0)
    assert log.recent() == []
    log.close()


def test_long_texts_are_cut_to_their_columns(database_url: str) -> None:
    log = AlertLog(database_url)
    log.record([_alert("N" * 500, at=AT, summary="s" * 5000)])
    [alert] = log.recent()
    assert alert.alertname == "N" * 200
    assert alert.summary == "s" * 2000
    log.close()


def test_the_notice_store_counts_its_parked_notices(database_url: str) -> None:
    store = NoticeStore(database_url)
    assert store.count() == 0
    for number in range(3):
        store.park(
            NoticeDeadLetter(
                id=f"dl_{number}",
                notice_id=f"n_{number}",
                channel="slack",
                target="https://hooks.slack.example/T/B/x",
                destination="hooks.slack.example",
                title="Down",
                payload="{}",
                attempts=3,
                last_error="HTTP 503",
                first_attempt_at=AT,
                parked_at=AT,
            )
        )
    store.remove("dl_1")
    assert store.count() == 2
    store.close()

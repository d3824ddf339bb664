"""The webhook store on a real PostgreSQL server: the same behaviour as on SQLite, timestamps
back in UTC, tables created once when processes start together, other tables left alone, and no
password in errors. Each test gets a database of its own, dropped afterwards.

Needs STOCKPRED_TEST_POSTGRES_URL (CI sets it); skips without it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest

from stockpred.domain.errors import NotFoundError, StoreError
from stockpred.notify.webhooks import WebhookService
from support.postgres import fresh_database

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
SECRET = "whsec-0123456789abcdef-TEST"
PASSWORD = "s3cr3t-Pa55word"


def _clock() -> datetime:
    return NOW


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh database on the test server, as a plain postgresql:// URL (the service picks
    the psycopg driver itself)."""
    with fresh_database("stockpred_webhooks") as url:
        yield url


def test_register_list_and_delete_keep_ownership_and_utc_times(database_url: str) -> None:
    service = WebhookService(database_url, clock=_clock)
    mine = service.register(
        owner="desk-a", url="https://a.example/in", tickers=["aapl", "BRK.B"], secret=SECRET
    )
    theirs = service.register(owner="desk-b", url="https://b.example/in", tickers=[], secret=SECRET)

    [listed] = service.list(owner="desk-a")
    assert listed == mine
    assert listed.tickers == ("AAPL", "BRK.B")
    assert listed.created_at == NOW
    assert listed.created_at.utcoffset() == timedelta(0)
    with pytest.raises(NotFoundError):
        service.delete(mine.id, owner="desk-b")
    service.delete(mine.id, owner="desk-a")
    assert service.list() == [theirs]
    service.check()
    asyncio.run(service.aclose())


def test_times_from_a_clock_in_another_zone_come_back_as_the_same_instant_in_utc(
    database_url: str,
) -> None:
    new_york = timezone(timedelta(hours=-5))
    service = WebhookService(database_url, clock=lambda: NOW.astimezone(new_york))

    webhook = service.register(owner="a", url="https://a.example/in", tickers=[], secret=SECRET)

    [stored] = service.list()
    assert stored.created_at == NOW
    assert stored.created_at.tzinfo == UTC
    assert webhook.created_at.tzinfo == UTC
    asyncio.run(service.aclose())


def test_an_undeliverable_event_is_parked_and_listed_for_its_owner(database_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = WebhookService(
        database_url,
        clock=_clock,
        attempts=2,
        backoff_seconds=0.0,
        allow_private_addresses=True,
    )
    webhook = service.register(owner="a", url="https://a.example/in", tickers=[], secret=SECRET)
    unreachable = replace(webhook, url=f"http://127.0.0.1:{port}/in")

    async def scenario() -> bool:
        try:
            return await service.deliver(unreachable, event_id="evt_1", body=b'{"ticker":"A"}')
        finally:
            await service.aclose()

    assert not asyncio.run(scenario())

    reopened = WebhookService(database_url, clock=_clock)
    [letter] = reopened.dead_letters(owner="a")
    assert (letter.event_id, letter.attempts, letter.last_error) == ("evt_1", 2, "ConnectError")
    assert letter.payload == '{"ticker":"A"}'
    assert letter.parked_at == NOW
    assert reopened.dead_letters(owner="b") == []
    reopened.delete(webhook.id, owner=None)
    assert reopened.dead_letters() == []
    asyncio.run(reopened.aclose())


def test_services_starting_together_create_the_tables_once(database_url: str) -> None:
    def start(_: int) -> WebhookService:
        return WebhookService(database_url, clock=_clock)

    with ThreadPoolExecutor(max_workers=4) as pool:
        services = list(pool.map(start, range(4)))

    services[0].register(owner="a", url="https://a.example/in", tickers=[], secret=SECRET)
    assert all(len(service.list()) == 1 for service in services)
    for service in services:
        asyncio.run(service.aclose())


def test_tables_of_other_modules_in_the_same_database_are_left_alone(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE api_clients (id text PRIMARY KEY)")
        connection.execute("INSERT INTO api_clients VALUES ('desk-a')")

    service = WebhookService(database_url, clock=_clock)
    asyncio.run(service.aclose())

    with psycopg.connect(database_url, autocommit=True) as connection:
        rows = connection.execute("SELECT id FROM api_clients").fetchall()
    assert rows == [("desk-a",)]


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    url = f"postgresql://stockpred:{PASSWORD}@127.0.0.1:1/stockpred"

    with pytest.raises(StoreError) as caught:
        WebhookService(url, clock=_clock)

    assert PASSWORD not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)

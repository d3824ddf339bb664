"""The API's client registry on the real PostgreSQL: each run creates its own database and drops
it after. Skips without STOCKPRED_TEST_POSTGRES_URL (CI sets it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from argon2 import PasswordHasher

from stockpred.api.clients import ClientStore
from stockpred.domain.errors import AuthError, NotFoundError, StoreError

pytestmark = pytest.mark.integration

POSTGRES_URL = os.environ.get("STOCKPRED_TEST_POSTGRES_URL")
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
PASSWORD = "s3cr3t-Pa55word"


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _cheap_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh database on the test server (plain postgresql://, as operators write it),
    dropped with any connection left after the module."""
    if not POSTGRES_URL:
        pytest.skip("STOCKPRED_TEST_POSTGRES_URL is not set (CI sets it)")
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    name = f"stockpred_api_clients_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(database_url: str, clock: FakeClock) -> Iterator[ClientStore]:
    with ClientStore(database_url, clock=clock, hasher=_cheap_hasher()) as opened:
        yield opened


def test_create_authenticate_and_revoke_on_postgres(store: ClientStore, clock: FakeClock) -> None:
    created = store.create(name=f"desk-{uuid.uuid4().hex[:6]}", scopes=["predictions:read"])
    assert store.authenticate(created.client.client_id, created.secret) == created.client

    clock.now = T0 + timedelta(hours=1)
    revoked = store.revoke(created.client.client_id)

    assert revoked.revoked_at == T0 + timedelta(hours=1)
    assert revoked.revoked_at.tzinfo is not None
    listed = {c.client_id: c for c in store.list()}
    assert listed[created.client.client_id] == revoked
    assert listed[created.client.client_id].created_at == T0


def test_failed_authentications_look_alike_on_postgres(store: ClientStore) -> None:
    created = store.create(name="desk", scopes=["stream:read"])
    revoked = store.create(name="gone", scopes=["stream:read"])
    store.revoke(revoked.client.client_id)

    messages = set()
    for client_id, secret in [
        (created.client.client_id, "wrong"),
        ("cl_unknown", created.secret),
        (revoked.client.client_id, revoked.secret),
    ]:
        with pytest.raises(AuthError) as caught:
            store.authenticate(client_id, secret)
        messages.add(str(caught.value))

    assert messages == {"invalid client credentials"}


def test_revoking_an_unknown_client_on_postgres_is_not_found(store: ClientStore) -> None:
    with pytest.raises(NotFoundError, match="stockpred clients list"):
        store.revoke("cl_nobody")


def test_stores_opening_at_once_share_one_table(database_url: str, clock: FakeClock) -> None:
    def open_and_create(index: int) -> str:
        with ClientStore(database_url, clock=clock, hasher=_cheap_hasher()) as opened:
            return opened.create(name=f"racer-{index}", scopes=["admin"]).client.client_id

    with ThreadPoolExecutor(max_workers=4) as pool:
        created = set(pool.map(open_and_create, range(4)))

    with ClientStore(database_url, clock=clock, hasher=_cheap_hasher()) as store:
        assert created <= {c.client_id for c in store.list()}
        store.check()


def test_an_unreachable_postgres_is_a_store_error_without_the_password(
    clock: FakeClock,
) -> None:
    pytest.importorskip("psycopg")
    # Nothing listens on port 1: the connection is refused at once.
    url = f"postgresql://stockpred:{PASSWORD}@127.0.0.1:1/stockpred"

    with pytest.raises(StoreError) as caught:
        ClientStore(url, clock=clock)

    assert PASSWORD not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)

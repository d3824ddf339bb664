"""The API's client registry on a real SQLite file: secrets are shown once and stored only as
argon2 hashes; every failed authentication looks the same, in message and in hash work."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher

from stockpred.api.clients import ClientStore
from stockpred.domain.errors import (
    AuthError,
    ConfigurationError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    StoreError,
)

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class CountingHasher(PasswordHasher):
    """Cheap argon2 parameters (the tests hash often) that count the verifications."""

    def __init__(self, *, time_cost: int = 1) -> None:
        super().__init__(time_cost=time_cost, memory_cost=1024, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "api" / "api.db"


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def store(database: Path, clock: FakeClock, hasher: CountingHasher) -> Iterator[ClientStore]:
    with ClientStore(f"sqlite:///{database}", clock=clock, hasher=hasher) as opened:
        yield opened


def _stored_hashes(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as connection:
        return dict(connection.execute("SELECT client_id, secret_hash FROM api_clients"))


def test_a_created_client_authenticates_with_its_secret(store: ClientStore) -> None:
    created = store.create(name="trading desk", scopes=["stream:read", "predictions:read"])

    client = store.authenticate(created.client.client_id, created.secret)

    assert client == created.client
    assert client.client_id.startswith("cl_")
    assert client.name == "trading desk"
    assert client.scopes == ("predictions:read", "stream:read")
    assert client.created_at == T0
    assert client.active


def test_every_failed_authentication_gives_the_same_message(
    store: ClientStore, clock: FakeClock
) -> None:
    good = store.create(name="good", scopes=["predictions:read"])
    revoked = store.create(name="revoked", scopes=["predictions:read"])
    clock.now = T0 + timedelta(hours=1)
    store.revoke(revoked.client.client_id)

    messages = set()
    for client_id, secret in [
        (good.client.client_id, "not-the-secret"),
        (good.client.client_id, ""),
        ("cl_unknown", good.secret),
        (revoked.client.client_id, revoked.secret),
        ("x" * 500, good.secret),
    ]:
        with pytest.raises(AuthError) as caught:
            store.authenticate(client_id, secret)
        assert not isinstance(caught.value, ForbiddenError)
        messages.add(str(caught.value))

    assert messages == {"invalid client credentials"}


def test_an_unknown_id_costs_the_same_hash_work_as_a_wrong_secret(
    store: ClientStore, hasher: CountingHasher
) -> None:
    created = store.create(name="desk", scopes=["predictions:read"])

    with pytest.raises(AuthError):
        store.authenticate(created.client.client_id, "wrong")
    after_wrong_secret = hasher.verified
    with pytest.raises(AuthError):
        store.authenticate("cl_doesnotexist", "wrong")

    assert after_wrong_secret == 1
    assert hasher.verified == 2


def test_only_an_argon2_hash_of_the_secret_is_stored(database: Path, clock: FakeClock) -> None:
    # The default (production) parameters, not the cheap ones of the other tests.
    with ClientStore(f"sqlite:///{database}", clock=clock) as store:
        created = store.create(name="desk", scopes=["admin"])
        assert store.authenticate(created.client.client_id, created.secret).active

    stored = _stored_hashes(database)[created.client.client_id]
    assert stored.startswith("$argon2id$")
    assert created.secret not in stored
    assert created.secret not in repr(created)
    assert created.secret not in repr(created.client)
    raw = database.read_bytes()
    assert created.secret.encode() not in raw


def test_secrets_and_ids_are_unique(store: ClientStore) -> None:
    made = [store.create(name=f"c{i}", scopes=["predictions:read"]) for i in range(5)]

    assert len({m.client.client_id for m in made}) == 5
    assert len({m.secret for m in made}) == 5
    assert all(len(m.secret) >= 40 for m in made)


def test_list_shows_every_client_oldest_first_with_revoked_ones(
    store: ClientStore, clock: FakeClock
) -> None:
    first = store.create(name="first", scopes=["predictions:read"])
    clock.now = T0 + timedelta(minutes=1)
    second = store.create(name="second", scopes=["admin"])
    clock.now = T0 + timedelta(minutes=2)
    store.revoke(first.client.client_id)

    listed = store.list()

    assert [c.client_id for c in listed] == [first.client.client_id, second.client.client_id]
    assert [c.active for c in listed] == [False, True]
    assert listed[0].revoked_at == T0 + timedelta(minutes=2)
    assert listed[1].created_at == T0 + timedelta(minutes=1)
    assert all(c.created_at.tzinfo is not None for c in listed)


def test_revoking_twice_keeps_the_first_revocation_time(
    store: ClientStore, clock: FakeClock
) -> None:
    created = store.create(name="desk", scopes=["predictions:read"])
    clock.now = T0 + timedelta(hours=1)
    store.revoke(created.client.client_id)
    clock.now = T0 + timedelta(hours=2)

    again = store.revoke(created.client.client_id)

    assert again.revoked_at == T0 + timedelta(hours=1)
    assert not again.active


def test_revoking_an_unknown_client_names_the_list_command(store: ClientStore) -> None:
    with pytest.raises(NotFoundError, match=r"'cl_nobody'.*stockpred clients list"):
        store.revoke("cl_nobody")


def test_an_unknown_scope_is_refused_listing_the_valid_ones(store: ClientStore) -> None:
    with pytest.raises(InvalidInputError) as caught:
        store.create(name="desk", scopes=["predictions:read", "predictions:write"])

    message = str(caught.value)
    assert "'predictions:write'" in message
    for scope in ("predictions:read", "stream:read", "webhooks:write", "models:write", "admin"):
        assert scope in message
    assert store.list() == []


def test_a_client_needs_a_scope_and_a_name(store: ClientStore) -> None:
    with pytest.raises(InvalidInputError, match="at least one scope"):
        store.create(name="desk", scopes=[])
    with pytest.raises(InvalidInputError, match="name"):
        store.create(name="  ", scopes=["admin"])


def test_a_hash_made_with_older_parameters_is_upgraded_on_success(
    database: Path, clock: FakeClock
) -> None:
    url = f"sqlite:///{database}"
    with ClientStore(url, clock=clock, hasher=CountingHasher()) as old:
        created = old.create(name="desk", scopes=["predictions:read"])
    before = _stored_hashes(database)[created.client.client_id]

    with ClientStore(url, clock=clock, hasher=CountingHasher(time_cost=2)) as new:
        new.authenticate(created.client.client_id, created.secret)
        after = _stored_hashes(database)[created.client.client_id]
        assert new.authenticate(created.client.client_id, created.secret).active

    assert "t=1" in before
    assert "t=2" in after


def test_two_stores_on_one_file_see_each_others_clients(database: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{database}"
    with (
        ClientStore(url, clock=clock, hasher=CountingHasher()) as cli,
        ClientStore(url, clock=clock, hasher=CountingHasher()) as server,
    ):
        created = cli.create(name="desk", scopes=["predictions:read"])
        assert server.authenticate(created.client.client_id, created.secret).name == "desk"
        cli.revoke(created.client.client_id)
        with pytest.raises(AuthError):
            server.authenticate(created.client.client_id, created.secret)


def test_threads_may_authenticate_at_once(store: ClientStore) -> None:
    made = [store.create(name=f"c{i}", scopes=["predictions:read"]) for i in range(4)]
    pairs = [(m.client.client_id, m.secret) for m in made] * 4

    with ThreadPoolExecutor(max_workers=8) as pool:
        names = list(pool.map(lambda pair: store.authenticate(*pair).name, pairs))

    assert sorted(set(names)) == ["c0", "c1", "c2", "c3"]


def test_check_passes_on_a_reachable_database(store: ClientStore) -> None:
    store.check()


def test_a_database_that_cannot_be_opened_is_a_store_error(
    tmp_path: Path, clock: FakeClock
) -> None:
    # A folder where the database file should be.
    folder = tmp_path / "api.db"
    folder.mkdir()

    with pytest.raises(StoreError, match=r"API client store.*STOCKPRED_API_DATABASE") as caught:
        ClientStore(f"sqlite:///{folder}", clock=clock)

    assert caught.value.__cause__ is not None


def test_an_unsupported_database_is_a_configuration_error(clock: FakeClock) -> None:
    with pytest.raises(ConfigurationError, match="sqlite:///PATH") as caught:
        ClientStore("mysql://root:hunter2secret@127.0.0.1/api", clock=clock)

    assert "hunter2secret" not in str(caught.value)

"""What only the PostgreSQL backend has to get right: reaching the server, never showing the
password, giving connections back, migrating once under concurrency, and its settings.

The contract every backend shares is in test_store_contract.py. Tests that need the server read
STOCKPRED_TEST_POSTGRES_URL and skip without it; the others run everywhere.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psycopg
import pytest
from psycopg import sql

from stockpred.compose import open_store
from stockpred.domain.errors import ConfigurationError, MissingExtraError, StoreError
from stockpred.settings import Settings, load_settings
from stockpred.store.postgres import PostgresStore
from stockpred.store.schema import SCHEMA_VERSION

POSTGRES_URL = os.environ.get("STOCKPRED_TEST_POSTGRES_URL")
PASSWORD = "s3cr3t-Pa55word"
# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE = f"postgresql://stockpred:{PASSWORD}@127.0.0.1:1/stockpred"


@pytest.fixture
def postgres_url() -> str:
    if not POSTGRES_URL:
        pytest.skip("STOCKPRED_TEST_POSTGRES_URL is not set (CI sets it)")
    return POSTGRES_URL


def _with_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(parts._replace(query=joined))


def _drop(url: str, *schemas: str) -> None:
    with psycopg.connect(url, autocommit=True) as con:
        for schema in schemas:
            con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def fresh_schema(postgres_url: str) -> Iterator[str]:
    schema = f"test_{uuid.uuid4().hex}"
    yield schema
    _drop(postgres_url, schema)


def _sessions_named(url: str, name: str) -> int:
    with psycopg.connect(url, autocommit=True) as con:
        row = con.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name]
        ).fetchone()
    assert row is not None
    return int(row[0])


def _sessions_end(url: str, name: str) -> bool:
    """Whether the server sessions named ``name`` end (a closed client's backend exits a moment
    after the client goes)."""
    deadline = time.monotonic() + 5
    while _sessions_named(url, name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- reaching the server ---------------------------------------------------------------------


def test_unreachable_server_is_a_store_error_naming_host_port_and_the_setting() -> None:
    with pytest.raises(StoreError) as caught:
        PostgresStore(UNREACHABLE)

    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "STOCKPRED_POSTGRES_URL" in message
    assert "database stockpred" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    "url",
    [
        UNREACHABLE,
        # Percent-encoded in the URL: neither spelling may show.
        "postgresql://stockpred:p%40ss%3Aw0rd-xyz@127.0.0.1:1/stockpred",
        # Not a valid port: libpq's complaint quotes the connection string.
        f"postgresql://stockpred:{PASSWORD}@127.0.0.1:notaport/stockpred",
        # The key=value form.
        f"host=127.0.0.1 port=1 user=stockpred password={PASSWORD} dbname=stockpred",
        # Not a connection string at all.
        f"postgresql://stockpred:{PASSWORD}@127.0.0.1:1/stockpred?nonsense_option=1",
    ],
    ids=["url", "percent-encoded", "bad-port", "keywords", "unknown-option"],
)
def test_password_of_the_url_never_appears_in_the_error(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        PostgresStore(url)

    message = str(caught.value)
    for secret in (PASSWORD, "p%40ss%3Aw0rd-xyz", "p@ss:w0rd-xyz"):
        assert secret not in message
    assert "STOCKPRED_POSTGRES_URL" in message


def test_store_describes_its_location_without_the_password(
    postgres_url: str, fresh_schema: str
) -> None:
    parts = urlsplit(postgres_url)
    # Trust authentication on the test server accepts any password.
    netloc = f"{parts.username or 'postgres'}:{PASSWORD}@{parts.hostname}:{parts.port or 5432}"
    with_password = urlunsplit(parts._replace(netloc=netloc))

    with PostgresStore(with_password, schema=fresh_schema) as store:
        assert PASSWORD not in store.location
        assert PASSWORD not in repr(store)
        assert fresh_schema in store.location


def test_without_psycopg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)

    with pytest.raises(MissingExtraError, match=r"stockpred\[postgres\]"):
        PostgresStore(UNREACHABLE)


# -- connections -----------------------------------------------------------------------------


def test_closed_store_gives_its_connection_back(postgres_url: str, fresh_schema: str) -> None:
    name = f"stockpred-test-{uuid.uuid4().hex[:12]}"
    url = _with_query(postgres_url, f"application_name={name}")

    store = PostgresStore(url, schema=fresh_schema)
    assert _sessions_named(postgres_url, name) == 1
    store.close()

    assert _sessions_end(postgres_url, name)


def test_store_that_refuses_to_open_gives_its_connection_back(
    postgres_url: str, fresh_schema: str
) -> None:
    PostgresStore(postgres_url, schema=fresh_schema).close()
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(
            sql.SQL("INSERT INTO {}.stockpred_schema VALUES (%s, now())").format(
                sql.Identifier(fresh_schema)
            ),
            [SCHEMA_VERSION + 1],
        )
    name = f"stockpred-test-{uuid.uuid4().hex[:12]}"

    with pytest.raises(StoreError, match="upgrade stockpred"):
        PostgresStore(_with_query(postgres_url, f"application_name={name}"), schema=fresh_schema)

    assert _sessions_end(postgres_url, name)


def test_lost_connection_is_a_store_error_saying_so(postgres_url: str, fresh_schema: str) -> None:
    name = f"stockpred-test-{uuid.uuid4().hex[:12]}"
    with PostgresStore(
        _with_query(postgres_url, f"application_name={name}"), schema=fresh_schema
    ) as store:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [name],
            )

        with pytest.raises(StoreError, match=r"connection .* closed or lost"):
            store.read_bars()


def test_stores_opening_a_new_schema_at_once_migrate_it_once(
    postgres_url: str, fresh_schema: str
) -> None:
    def open_and_report(_: int) -> int:
        with PostgresStore(postgres_url, schema=fresh_schema) as store:
            return store.schema_version()

    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(open_and_report, range(4)))

    assert versions == [SCHEMA_VERSION] * 4
    with psycopg.connect(postgres_url, autocommit=True) as con:
        applied = con.execute(
            sql.SQL("SELECT version FROM {}.stockpred_schema ORDER BY version").format(
                sql.Identifier(fresh_schema)
            )
        ).fetchall()
    assert [v for (v,) in applied] == list(range(1, SCHEMA_VERSION + 1))


def test_schema_name_that_needs_quoting_is_used_as_given(postgres_url: str) -> None:
    schema = f"Test Mixed-{uuid.uuid4().hex[:8]}"
    try:
        with PostgresStore(postgres_url, schema=schema) as store:
            bars = pd.DataFrame(
                {
                    "ticker": ["AAA"],
                    "ts": [pd.Timestamp("2024-01-02 21:00", tz="UTC")],
                    "open": [1.0],
                    "high": [2.0],
                    "low": [0.5],
                    "close": [1.5],
                    "adj_close": [None],
                    "volume": [10.0],
                    "source": ["test"],
                    "ingested_at": [pd.Timestamp(dt.datetime(2024, 1, 3, tzinfo=dt.UTC))],
                }
            )
            assert store.write_bars(bars).inserted == 1
            assert store.read_bars(tickers=["aaa"])["close"].tolist() == [1.5]
    finally:
        _drop(postgres_url, schema)


def test_delete_bars_removes_only_bars_strictly_before_the_cutoff(
    postgres_url: str, fresh_schema: str
) -> None:
    days = pd.date_range("2024-01-02 21:00", periods=4, freq="D", tz="UTC")
    bars = pd.DataFrame(
        {
            "ticker": "AAA",
            "ts": days,
            "open": 1.0,
            "high": 2.0,
            "low": 0.5,
            "close": 1.5,
            "adj_close": None,
            "volume": 10.0,
            "source": "test",
            "ingested_at": days[-1],
        }
    )
    with PostgresStore(postgres_url, schema=fresh_schema) as store:
        store.write_bars(bars)

        deleted = store.delete_bars(before=days[2])

        assert deleted == 2
        assert store.read_bars()["ts"].tolist() == list(days[2:])
        with pytest.raises(StoreError, match="time zone"):
            store.delete_bars(before=pd.Timestamp("2024-01-01"))


# -- settings and composition ----------------------------------------------------------------


def test_postgres_store_without_a_url_is_a_configuration_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKPRED_STORE", "postgres")

    with pytest.raises(ConfigurationError, match="STOCKPRED_POSTGRES_URL"):
        open_store(load_settings())


def test_postgres_url_is_a_secret_in_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPRED_STORE", "postgres")
    monkeypatch.setenv("STOCKPRED_POSTGRES_URL", UNREACHABLE)

    settings = load_settings()

    assert settings.store == "postgres"
    assert PASSWORD not in repr(settings)
    with pytest.raises(StoreError) as caught:
        open_store(settings)
    assert PASSWORD not in str(caught.value)


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    """The URL of a database of its own, so the default schema ``public`` can be used freely."""
    name = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_open_store_with_store_postgres_opens_the_postgres_store(fresh_database: str) -> None:
    settings = Settings(store="postgres", postgres_url=fresh_database)

    with open_store(settings) as store:
        assert isinstance(store, PostgresStore)
        assert store.schema == "public"
        assert store.schema_version() == SCHEMA_VERSION

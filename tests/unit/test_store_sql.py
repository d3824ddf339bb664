"""The SQLAlchemy plumbing shared by the API's stores: which URLs open, what the messages say
(never a password), how driver errors and a concurrent CREATE are handled, and UTC read-back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stockpred.domain.errors import ConfigurationError, StoreError
from stockpred.store.sql import as_utc, create_tables, open_engine, run_transaction


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine, _ = open_engine(f"sqlite:///{tmp_path / 'api.db'}", purpose="tests")
    yield engine
    engine.dispose()


def test_an_unparsable_url_is_a_configuration_error_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="STOCKPRED_WEBHOOK_DATABASE") as caught:
        open_engine("not a url", purpose="webhooks", setting="STOCKPRED_WEBHOOK_DATABASE")

    assert "webhooks" in str(caught.value)
    assert "not a url" not in str(caught.value)


def test_a_mysql_url_is_refused_without_showing_its_password() -> None:
    with pytest.raises(ConfigurationError, match=r"'mysql'.*sqlite:///PATH") as caught:
        open_engine("mysql://root:hunter2secret@127.0.0.1/api", purpose="webhooks")

    assert "hunter2secret" not in str(caught.value)
    assert "STOCKPRED_API_DATABASE" in str(caught.value)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_a_plain_postgres_url_is_opened_with_psycopg(scheme: str) -> None:
    pytest.importorskip("psycopg")
    engine, where = open_engine(
        f"{scheme}://stockpred:hunter2secret@127.0.0.1:5432/api", purpose="API clients"
    )
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert where.startswith("postgresql+psycopg://stockpred:")
        assert "hunter2secret" not in where
        assert "127.0.0.1:5432/api" in where
    finally:
        engine.dispose()


def test_a_sqlite_file_gets_its_folder_and_waits_for_other_writers(
    tmp_path: Path,
) -> None:
    engine, where = open_engine(f"sqlite:///{tmp_path / 'deeper' / 'api.db'}", purpose="tests")
    try:
        assert (tmp_path / "deeper").is_dir()
        assert where.endswith("api.db")
        with engine.connect() as connection:
            # Python's sqlite3 ``timeout`` (seconds) is SQLite's busy timeout (milliseconds).
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000
    finally:
        engine.dispose()


def test_a_driver_error_becomes_a_store_error_naming_the_store_and_setting(
    sqlite_engine: Engine,
) -> None:
    with pytest.raises(StoreError) as caught:
        run_transaction(
            sqlite_engine,
            lambda c: c.execute(sa.text("SELECT * FROM no_such_table")),
            store="the test store at sqlite:///api.db",
            action="read",
            setting="STOCKPRED_API_DATABASE",
        )

    message = str(caught.value)
    assert message.startswith("the test store at sqlite:///api.db could not read (")
    assert message.endswith("(STOCKPRED_API_DATABASE)")
    assert "no_such_table" not in message
    assert isinstance(caught.value.__cause__, sa.exc.SQLAlchemyError)


def test_creating_tables_tries_again_after_a_lost_race(sqlite_engine: Engine) -> None:
    metadata = sa.MetaData()
    sa.Table("things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    attempts: list[int] = []

    def lose_the_first_race(*_: object, **__: object) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise sa.exc.OperationalError("CREATE TABLE things", {}, Exception("table exists"))

    sa.event.listen(metadata, "before_create", lose_the_first_race)

    create_tables(sqlite_engine, metadata, store="the test store")

    assert len(attempts) == 2
    assert sa.inspect(sqlite_engine).has_table("things")


def test_creating_tables_that_fails_twice_is_a_store_error(sqlite_engine: Engine) -> None:
    metadata = sa.MetaData()
    sa.Table("things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table("others", metadata, sa.Column("id", sa.Integer, primary_key=True))

    def always_fail(*_: object, **__: object) -> None:
        raise sa.exc.OperationalError("CREATE TABLE things", {}, Exception("disk full"))

    sa.event.listen(metadata, "before_create", always_fail)

    with pytest.raises(StoreError, match="the test store could not create its tables"):
        create_tables(sqlite_engine, metadata, store="the test store")


def test_a_naive_timestamp_is_read_as_utc() -> None:
    assert as_utc(datetime(2026, 3, 2, 14, 30)) == datetime(  # noqa: DTZ001 - the naive input
        2026, 3, 2, 14, 30, tzinfo=UTC
    )


def test_an_aware_timestamp_in_another_zone_is_converted_to_utc() -> None:
    new_york = timezone(timedelta(hours=-5))

    converted = as_utc(datetime(2026, 3, 2, 9, 30, tzinfo=new_york))

    assert converted == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert converted.tzinfo is UTC

"""SQLAlchemy plumbing shared by the stores on the API's database (API clients, webhooks).

Each of those stores keeps its own tables, but they open the database, run a transaction and
read timestamps back the same way; that way lives here, once, so a fix to one (a driver option,
a message that leaked a password) reaches them all. SQLite and PostgreSQL (psycopg 3, the
``postgres`` extra) are the only backends: the SQL is tested on those two and no other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from stockpred.domain.errors import ConfigurationError, StoreError
from stockpred.extras import import_optional

__all__ = ["TableStore", "as_utc", "create_tables", "open_engine", "run_transaction"]

_T = TypeVar("_T")

_URL_FORMS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:5432/DATABASE"


def open_engine(
    url: str, *, purpose: str, setting: str = "STOCKPRED_API_DATABASE"
) -> tuple[Engine, str]:
    """The engine for ``url``, and a description of the database safe for messages.

    The description never holds the password. ``purpose`` names what the database is for in
    messages ("API clients", "webhooks"); ``setting`` is the environment variable the URL came
    from, so a ConfigurationError says what to change. ``postgresql://`` and ``postgres://`` are
    read as ``postgresql+psycopg://``. A backend other than SQLite or PostgreSQL is refused.
    """
    try:
        parsed: URL = make_url(url)
    except ArgumentError as exc:
        # The URL is not repeated: it may carry a password.
        raise ConfigurationError(
            f"the database URL for {purpose} is not a valid SQLAlchemy URL; use {_URL_FORMS} "
            f"({setting})"
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        # Plain postgresql:// would pick psycopg2, which stockpred does not install.
        parsed = parsed.set(drivername="postgresql+psycopg")
    where = parsed.render_as_string(hide_password=True)
    options: dict[str, object] = {"hide_parameters": True}
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        import_optional("psycopg", extra="postgres", purpose=f"{purpose} on PostgreSQL")
        options.update(pool_pre_ping=True, connect_args={"connect_timeout": 10})
    elif backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            # One shared connection, or every checkout would see a new, empty database.
            options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # Threads share the pool; a writer elsewhere (the CLI) is waited for, not an error.
            options.update(connect_args={"check_same_thread": False, "timeout": 30})
    else:
        raise ConfigurationError(
            f"the database for {purpose} ({where}) uses {backend!r}; use {_URL_FORMS} ({setting})"
        )
    try:
        return sa.create_engine(parsed, **options), where
    except (SQLAlchemyError, ImportError) as exc:
        raise ConfigurationError(
            f"cannot open the database for {purpose} ({where}, {type(exc).__name__}); check the "
            f"URL's driver (sqlite, postgresql+psycopg) ({setting})"
        ) from exc


def run_transaction(
    engine: Engine,
    work: Callable[[sa.Connection], _T],
    *,
    store: str,
    action: str,
    setting: str | None = None,
) -> _T:
    """Run ``work`` in one transaction; a driver error becomes StoreError.

    The message reads "{store} could not {action} (ErrorClass); check ...", so ``store`` names
    the store and its database ("the webhook store at sqlite:///..."), and ``setting``, when
    given, the variable to check. The driver's text is not repeated: it may quote SQL and the
    server's view of it (hide_parameters keeps values out, but the class name is all an operator
    needs to start, and the cause is chained).
    """
    try:
        with engine.begin() as connection:
            return work(connection)
    except SQLAlchemyError as exc:
        hint = f" ({setting})" if setting else ""
        raise StoreError(
            f"{store} could not {action} ({type(exc).__name__}); check that the database is "
            f"reachable and writable{hint}"
        ) from exc


def create_tables(
    engine: Engine, metadata: sa.MetaData, *, store: str, setting: str | None = None
) -> None:
    """Create the tables of ``metadata`` that are missing, trying a second time on failure.

    Two processes starting at once may both see a table missing; the loser's CREATE fails, and
    the second look finds the winner's table. A second failure is a real one (StoreError, see
    :func:`run_transaction` for ``store`` and ``setting``). Nothing is ever dropped.
    """
    action = "create its table" if len(metadata.tables) == 1 else "create its tables"

    def work(connection: sa.Connection) -> None:
        metadata.create_all(connection, checkfirst=True)

    try:
        run_transaction(engine, work, store=store, action=action, setting=setting)
    except StoreError:
        run_transaction(engine, work, store=store, action=action, setting=setting)


def as_utc(value: datetime) -> datetime:
    """UTC-aware ``value``. SQLite hands timestamps back naive (they were written in UTC),
    PostgreSQL in the session's zone, and an injected clock may use any zone."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class TableStore:
    """One store's tables on the API's database: the engine for ``url`` with the tables of
    ``metadata`` created on opening, and its transactions. ``purpose`` names what the database
    is for ("webhooks"), ``name`` the store ("the webhook store"): messages name the store and
    its database, never its password."""

    def __init__(self, url: str, metadata: sa.MetaData, *, purpose: str, name: str) -> None:
        self._engine, where = open_engine(url, purpose=purpose)
        self._name = f"{name} at {where}"
        try:
            create_tables(self._engine, metadata, store=self._name)
        except Exception:
            self._engine.dispose()
            raise

    def run(self, action: str, work: Callable[[sa.Connection], _T]) -> _T:
        """Run ``work`` in one transaction; driver errors become StoreError (``action`` says
        what failed)."""
        return run_transaction(self._engine, work, store=self._name, action=action)

    def check(self) -> None:
        """Readiness: raises StoreError when the database does not answer."""
        self.run("answer a ping", lambda c: c.execute(sa.select(1)).scalar_one())

    def close(self) -> None:
        """Close the connection pool."""
        self._engine.dispose()

"""The API's clients (OAuth2 client credentials): who may ask ``POST /v1/token`` for a token,
with which scopes.

A client's secret is shown once, when it is created; only its argon2 hash is stored. Storage is
SQLAlchemy Core on the API's database (SQLite by default, PostgreSQL in production), shared with
other API tables: this module creates its own table and never drops anything.
"""

from __future__ import annotations

import builtins
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TypeVar

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Engine

from stockpred.api.principals import SCOPES
from stockpred.domain.errors import AuthError, InvalidInputError, NotFoundError, StoreError
from stockpred.store.sql import as_utc, create_tables, open_engine, run_transaction

__all__ = ["CLIENT_ID_PREFIX", "Client", "ClientStore", "NewClient"]

_LOG = logging.getLogger("stockpred.api.clients")
_T = TypeVar("_T")

_SETTING = "STOCKPRED_API_DATABASE"

CLIENT_ID_PREFIX = "cl_"
MAX_NAME_LENGTH = 200
# Longer ids or secrets than these are never ours; they are refused without a database look-up
# but after the same hash work, so the answer takes as long as any other refusal.
_MAX_CLIENT_ID_LENGTH = 64
_MAX_SECRET_LENGTH = 256
# Hash verifications running at once: each takes 64 MiB with argon2's default parameters, so a
# burst of token requests must not take one thread (and 64 MiB) each.
_CONCURRENT_VERIFICATIONS = 4
_REFUSAL = "invalid client credentials"

_METADATA = sa.MetaData()
_CLIENTS = sa.Table(
    "api_clients",
    _METADATA,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(MAX_NAME_LENGTH), nullable=False),
    # Space-separated, in the order of SCOPES.
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True, slots=True)
class Client:
    """A registered API client; never carries its secret or the secret's hash."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewClient:
    """A client just created and its secret, which exists only here: it cannot be shown again."""

    client: Client
    secret: str

    def __repr__(self) -> str:
        # A repr in a log or traceback must not leak the secret.
        return f"NewClient(client={self.client!r}, secret='********')"


class ClientStore:
    """Registers, authenticates, lists and revokes API clients.

    ``url`` is a SQLAlchemy database URL (``sqlite:///PATH`` or
    ``postgresql+psycopg://USER:PASSWORD@HOST:5432/DB``; ``postgresql://`` is read the same).
    ``hasher`` defaults to argon2's recommended parameters; tests may pass cheaper ones. Safe to
    use from several threads: every call is one short transaction.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime],
        hasher: PasswordHasher | None = None,
    ) -> None:
        engine, where = open_engine(url, purpose="API clients", setting=_SETTING)
        self._setup(engine, where, clock=clock, hasher=hasher, owns_engine=True)

    @classmethod
    def from_engine(
        cls,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        hasher: PasswordHasher | None = None,
    ) -> ClientStore:
        """A store on an engine shared with other API tables; :meth:`close` leaves it open."""
        store = cls.__new__(cls)
        where = engine.url.render_as_string(hide_password=True)
        store._setup(engine, where, clock=clock, hasher=hasher, owns_engine=False)
        return store

    def _setup(
        self,
        engine: Engine,
        where: str,
        *,
        clock: Callable[[], datetime],
        hasher: PasswordHasher | None,
        owns_engine: bool,
    ) -> None:
        self._engine = engine
        self._store = f"the API client store at {where}"
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._owns_engine = owns_engine
        self._dummy_hash: str | None = None
        self._verifications = threading.BoundedSemaphore(_CONCURRENT_VERIFICATIONS)
        try:
            create_tables(engine, _METADATA, store=self._store, setting=_SETTING)
        except StoreError:
            if owns_engine:
                engine.dispose()
            raise

    def __enter__(self) -> ClientStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- storage ------------------------------------------------------------------------------

    def _run(self, action: str, work: Callable[[sa.Connection], _T]) -> _T:
        """Run ``work`` in one transaction; driver errors become StoreError."""
        return run_transaction(
            self._engine, work, store=self._store, action=action, setting=_SETTING
        )

    # -- commands -----------------------------------------------------------------------------

    def create(self, *, name: str, scopes: Sequence[str]) -> NewClient:
        """Register a client; the returned secret is the only copy there will ever be."""
        name = name.strip()
        if not name or len(name) > MAX_NAME_LENGTH:
            raise InvalidInputError(
                f"a client needs a name of 1 to {MAX_NAME_LENGTH} characters, got {len(name)}"
            )
        granted = _checked_scopes(scopes)
        client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(12)
        secret = secrets.token_urlsafe(32)
        secret_hash = self._hasher.hash(secret)
        now = self._clock()
        client = Client(
            client_id=client_id, name=name, scopes=granted, created_at=now, revoked_at=None
        )
        self._run(
            "register the client",
            lambda c: c.execute(
                _CLIENTS.insert().values(
                    client_id=client_id,
                    name=name,
                    scopes=" ".join(granted),
                    secret_hash=secret_hash,
                    created_at=now,
                    revoked_at=None,
                )
            ),
        )
        _LOG.info("registered API client %s (%s) with scopes %s", client_id, name, granted)
        return NewClient(client=client, secret=secret)

    def authenticate(self, client_id: str, secret: str) -> Client:
        """The active client whose id and secret these are.

        Unknown id, wrong secret and revoked client all raise the same ``AuthError`` after the
        same hash work, so neither the message nor the time taken tells which ids exist. Costs
        tens of milliseconds of CPU: call it off the event loop.
        """
        plausible = (
            0 < len(client_id) <= _MAX_CLIENT_ID_LENGTH and len(secret) <= _MAX_SECRET_LENGTH
        )
        row = self._row(client_id) if plausible else None
        stored_hash = row["secret_hash"] if row is not None else self._dummy()
        matches: bool
        with self._verifications:
            try:
                matches = self._hasher.verify(stored_hash, secret)
            except VerifyMismatchError:
                matches = False
            except (VerificationError, InvalidHashError):
                if row is not None:
                    _LOG.error("the stored secret hash of API client %s is unreadable", client_id)
                matches = False
        if row is None or not matches or row["revoked_at"] is not None or not plausible:
            raise AuthError(_REFUSAL)
        client = _client_of(row)
        if self._hasher.check_needs_rehash(stored_hash):
            self._rehash(client_id, secret)
        return client

    def list(self) -> builtins.list[Client]:
        """Every client, revoked ones included, oldest first."""
        rows = self._run(
            "list the clients",
            lambda c: (
                c.execute(sa.select(_CLIENTS).order_by(_CLIENTS.c.created_at, _CLIENTS.c.client_id))
                .mappings()
                .all()
            ),
        )
        return [_client_of(row) for row in rows]

    def revoke(self, client_id: str) -> Client:
        """Revoke a client: it gets no new tokens. Tokens already issued stay valid until they
        expire. Revoking a revoked client changes nothing and returns it."""
        now = self._clock()

        def work(connection: sa.Connection) -> sa.RowMapping | None:
            connection.execute(
                _CLIENTS.update()
                .where(_CLIENTS.c.client_id == client_id, _CLIENTS.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return (
                connection.execute(sa.select(_CLIENTS).where(_CLIENTS.c.client_id == client_id))
                .mappings()
                .first()
            )

        row = self._run("revoke the client", work)
        if row is None:
            raise NotFoundError(
                f"no API client {client_id!r}; `stockpred clients list` shows the registered ones"
            )
        _LOG.info("revoked API client %s", client_id)
        return _client_of(row)

    def check(self) -> None:
        """Readiness: the database answers (``StoreError`` when it does not)."""
        self._run("answer", lambda c: c.execute(sa.text("SELECT 1")))

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    # -- helpers ------------------------------------------------------------------------------

    def _row(self, client_id: str) -> sa.RowMapping | None:
        return self._run(
            "look up the client",
            lambda c: (
                c.execute(sa.select(_CLIENTS).where(_CLIENTS.c.client_id == client_id))
                .mappings()
                .first()
            ),
        )

    def _dummy(self) -> str:
        """A hash with the store's parameters to verify against when the id is unknown."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        return self._dummy_hash

    def _rehash(self, client_id: str, secret: str) -> None:
        """Store the hash again with today's parameters (they were raised since it was made)."""
        new_hash = self._hasher.hash(secret)
        self._run(
            "update the client's secret hash",
            lambda c: c.execute(
                _CLIENTS.update()
                .where(_CLIENTS.c.client_id == client_id)
                .values(secret_hash=new_hash)
            ),
        )


def _checked_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    wanted = {scope.strip() for scope in scopes if scope.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise InvalidInputError(f"unknown scope {unknown[0]!r}; valid scopes: {', '.join(SCOPES)}")
    if not wanted:
        raise InvalidInputError(f"a client needs at least one scope of: {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in wanted)


def _client_of(row: sa.RowMapping) -> Client:
    revoked_at = row["revoked_at"]
    return Client(
        client_id=row["client_id"],
        name=row["name"],
        scopes=tuple(row["scopes"].split()),
        created_at=as_utc(row["created_at"]),
        revoked_at=as_utc(revoked_at) if revoked_at is not None else None,
    )

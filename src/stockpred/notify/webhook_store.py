"""Where webhooks and their dead letters are kept, and what a valid webhook row holds.

SQLAlchemy Core on the API's database (SQLite by default, PostgreSQL in production), shared with
other API tables: this module creates its own two tables (``webhooks``, ``webhook_dead_letters``)
and never drops anything. Every call is one short, blocking transaction; the async service runs
them in a thread. The field checks live here because they are what the columns promise; the
network policy (which hosts may be called) belongs to delivery, in :mod:`.webhooks`.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa

from stockpred.domain.errors import InvalidInputError, NotFoundError
from stockpred.notify.signing import SIGNATURE_HEADER
from stockpred.store.sql import TableStore, as_utc

__all__ = [
    "MAX_OWNER_LENGTH",
    "MAX_SECRET_LENGTH",
    "MAX_TICKERS",
    "MAX_URL_LENGTH",
    "MIN_SECRET_LENGTH",
    "DeadLetter",
    "Webhook",
    "WebhookStore",
    "as_utc",
    "check_owner",
    "check_secret",
    "check_tickers",
    "check_url",
]

MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 256
MAX_TICKERS = 500
MAX_URL_LENGTH = 2048
MAX_OWNER_LENGTH = 200
_MAX_ERROR_LENGTH = 200
# The symbol pattern of quality/bars.py (BRK.B, BRK-B, ^GSPC, EURUSD=X, RDS/A), copied rather
# than imported: that module pulls pandera, a second of start-up the API does not otherwise pay.
_TICKER = re.compile(r"^[A-Z0-9^][A-Z0-9.^=_/\-]{0,19}$")

_METADATA = sa.MetaData()
_WEBHOOKS = sa.Table(
    "webhooks",
    _METADATA,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("owner", sa.String(MAX_OWNER_LENGTH), nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=False),
    # JSON list of upper-case symbols; an empty list means every ticker.
    sa.Column("tickers", sa.Text, nullable=False),
    # Kept as given, not hashed: signing needs the secret itself (HMAC is keyed by it), unlike
    # a password that is only ever compared. Protect the database accordingly.
    sa.Column("secret", sa.String(MAX_SECRET_LENGTH), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
)
_DEAD_LETTERS = sa.Table(
    "webhook_dead_letters",
    _METADATA,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("webhook_id", sa.String(40), nullable=False, index=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    # The exact body that was sent (and signed), so a replay is byte-identical.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # A status code or an exception class: never the receiver's response body.
    sa.Column("last_error", sa.String(_MAX_ERROR_LENGTH), nullable=False),
    sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True, slots=True)
class Webhook:
    """A registered receiver. ``tickers`` empty means every ticker. The secret is carried so a
    delivery can be signed, but it is left out of ``repr`` so it never reaches a log line."""

    id: str
    owner: str
    url: str
    tickers: tuple[str, ...]
    created_at: datetime
    active: bool
    secret: str = field(repr=False)

    def wants(self, ticker: str) -> bool:
        """Whether an event about ``ticker`` (upper case) goes to this webhook."""
        return self.active and (not self.tickers or ticker in self.tickers)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that was not delivered: ``payload`` is the exact JSON body that was signed."""

    id: str
    webhook_id: str
    event_id: str
    payload: str
    attempts: int
    last_error: str
    first_attempt_at: datetime
    parked_at: datetime


class WebhookStore:
    """The two tables behind :class:`~stockpred.notify.webhooks.WebhookService`.

    ``url`` is a SQLAlchemy database URL (``sqlite:///...`` or ``postgresql+psycopg://...``;
    plain ``postgresql://`` is taken as psycopg). The tables are created on opening. Driver
    errors come out as StoreError naming the database without its password.
    """

    def __init__(self, url: str) -> None:
        self._tables = TableStore(url, _METADATA, purpose="webhooks", name="the webhook store")

    def check(self) -> None:
        """Readiness: raises StoreError when the database does not answer."""
        self._tables.check()

    def add(self, webhook: Webhook) -> None:
        """Insert a webhook whose fields were already checked (see :func:`check_url` and co.)."""
        row = {
            "id": webhook.id,
            "owner": webhook.owner,
            "url": webhook.url,
            "tickers": json.dumps(list(webhook.tickers)),
            "secret": webhook.secret,
            "created_at": webhook.created_at,
            "active": webhook.active,
        }
        self._tables.run(
            "register a webhook", lambda c: c.execute(_WEBHOOKS.insert().values(**row))
        )

    def list(self, *, owner: str | None = None) -> list[Webhook]:
        """The webhooks of ``owner`` (every webhook when None), oldest first."""
        query = sa.select(_WEBHOOKS).order_by(_WEBHOOKS.c.created_at, _WEBHOOKS.c.id)
        if owner is not None:
            query = query.where(_WEBHOOKS.c.owner == owner)
        rows = self._tables.run("list webhooks", lambda c: c.execute(query).mappings().all())
        return [_webhook_of(row) for row in rows]

    def active(self) -> builtins.list[Webhook]:
        """Every webhook that receives events, in no particular order."""
        query = sa.select(_WEBHOOKS).where(_WEBHOOKS.c.active.is_(True))
        rows = self._tables.run("find webhooks", lambda c: c.execute(query).mappings().all())
        return [_webhook_of(row) for row in rows]

    def delete(self, webhook_id: str, *, owner: str | None) -> None:
        """Remove a webhook, its stored secret and its dead letters (one transaction). An owner
        may delete only its own (another's looks absent); ``owner=None`` is an administrator."""

        def work(connection: sa.Connection) -> int:
            query = _WEBHOOKS.delete().where(_WEBHOOKS.c.id == webhook_id)
            if owner is not None:
                query = query.where(_WEBHOOKS.c.owner == owner)
            deleted = connection.execute(query).rowcount
            if deleted:
                connection.execute(
                    _DEAD_LETTERS.delete().where(_DEAD_LETTERS.c.webhook_id == webhook_id)
                )
            return int(deleted)

        if not self._tables.run("delete a webhook", work):
            raise NotFoundError(
                f"no webhook {webhook_id!r} for this client; list yours with GET /v1/webhooks"
            )

    def dead_letters(
        self, *, owner: str | None = None, limit: int = 100
    ) -> builtins.list[DeadLetter]:
        """Parked events of ``owner``'s webhooks (all when None), most recently parked first."""
        if limit < 1:
            raise InvalidInputError(f"limit must be at least 1, got {limit}")
        query = (
            sa.select(_DEAD_LETTERS)
            .join(_WEBHOOKS, _WEBHOOKS.c.id == _DEAD_LETTERS.c.webhook_id)
            .order_by(_DEAD_LETTERS.c.parked_at.desc(), _DEAD_LETTERS.c.id)
            .limit(limit)
        )
        if owner is not None:
            query = query.where(_WEBHOOKS.c.owner == owner)
        rows = self._tables.run("list dead letters", lambda c: c.execute(query).mappings().all())
        return [
            DeadLetter(
                id=row["id"],
                webhook_id=row["webhook_id"],
                event_id=row["event_id"],
                payload=row["payload"],
                attempts=row["attempts"],
                last_error=row["last_error"],
                first_attempt_at=as_utc(row["first_attempt_at"]),
                parked_at=as_utc(row["parked_at"]),
            )
            for row in rows
        ]

    def park(self, letter: DeadLetter) -> None:
        """Keep an undelivered event (``last_error`` is cut to the column's 200 characters)."""
        row = {
            "id": letter.id,
            "webhook_id": letter.webhook_id,
            "event_id": letter.event_id,
            "payload": letter.payload,
            "attempts": letter.attempts,
            "last_error": letter.last_error[:_MAX_ERROR_LENGTH],
            "first_attempt_at": letter.first_attempt_at,
            "parked_at": letter.parked_at,
        }
        self._tables.run("park an event", lambda c: c.execute(_DEAD_LETTERS.insert().values(**row)))

    def close(self) -> None:
        """Close the connection pool."""
        self._tables.close()


def _webhook_of(row: sa.RowMapping) -> Webhook:
    return Webhook(
        id=row["id"],
        owner=row["owner"],
        url=row["url"],
        tickers=tuple(json.loads(row["tickers"])),
        created_at=as_utc(row["created_at"]),
        active=bool(row["active"]),
        secret=row["secret"],
    )


def check_owner(owner: str) -> str:
    """The owner (a client id) unchanged, or InvalidInputError."""
    if not owner or len(owner) > MAX_OWNER_LENGTH:
        raise InvalidInputError(
            f"a webhook owner must be a client id of 1 to {MAX_OWNER_LENGTH} characters"
        )
    return owner


def check_url(url: str) -> str:
    """The URL stripped, or InvalidInputError saying what to fix: a plain http(s) URL with a
    host and without credentials. Which hosts may be called is decided at delivery."""
    text = url.strip() if isinstance(url, str) else ""
    if not text or len(text) > MAX_URL_LENGTH:
        raise InvalidInputError(
            f"a webhook URL must have 1 to {MAX_URL_LENGTH} characters; send e.g. "
            f"'https://platform.example.com/hooks/stockpred'"
        )
    if any(character.isspace() or ord(character) < 32 for character in text):
        raise InvalidInputError("a webhook URL must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - parsing the port is the check: "host:x" raises here
    except ValueError as exc:
        raise InvalidInputError(
            f"webhook URL {text[:100]!r} cannot be parsed; send e.g. "
            f"'https://platform.example.com/hooks/stockpred'"
        ) from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInputError(
            f"webhook URL scheme {parts.scheme or '(none)'!r} is not supported; use an "
            f"https:// (or http://) URL"
        )
    if parts.username is not None or parts.password is not None:
        # The URL is not repeated: the credentials would be echoed back.
        raise InvalidInputError(
            "a webhook URL must not carry credentials (user:password@host); deliveries are "
            f"authenticated by the {SIGNATURE_HEADER} header, which the receiver checks"
        )
    if not parts.hostname:
        raise InvalidInputError(f"webhook URL {text[:100]!r} has no host name")
    return text


def check_tickers(tickers: Sequence[str]) -> tuple[str, ...]:
    """Upper-cased, deduplicated symbols in their first order, or InvalidInputError."""
    if isinstance(tickers, str):
        raise InvalidInputError(
            f"tickers must be a list of symbols, not one string; send [{tickers!r}]"
        )
    if len(tickers) > MAX_TICKERS:
        raise InvalidInputError(
            f"a webhook follows at most {MAX_TICKERS} tickers, got {len(tickers)}; send an "
            f"empty list to receive every ticker"
        )
    symbols: dict[str, None] = {}
    for raw in tickers:
        symbol = raw.strip().upper() if isinstance(raw, str) else ""
        if not _TICKER.match(symbol):
            raise InvalidInputError(
                f"ticker {str(raw)[:40]!r} is not a plausible symbol; use exchange symbols "
                f"such as 'AAPL', 'BRK.B' or '^GSPC' (or an empty list for every ticker)"
            )
        symbols[symbol] = None
    return tuple(symbols)


def check_secret(secret: str) -> str:
    """The signing secret unchanged, or InvalidInputError that reports only its length."""
    # Only the length is ever reported: the value must not be echoed or logged.
    length = len(secret) if isinstance(secret, str) else 0
    if not MIN_SECRET_LENGTH <= length <= MAX_SECRET_LENGTH:
        raise InvalidInputError(
            f"the signing secret has {length} characters; it needs {MIN_SECRET_LENGTH} to "
            f"{MAX_SECRET_LENGTH}; generate one with "
            f"python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return secret

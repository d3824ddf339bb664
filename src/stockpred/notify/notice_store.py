"""Where notices that could not be delivered to Slack or email are parked: the table
``notice_dead_letters`` on the API's database (SQLite by default, PostgreSQL in production), beside
the webhooks' dead letters (:mod:`.webhook_store`) and kept the same way.

A dead letter holds the exact payload that was sent (Block Kit JSON, or the MIME text of the
email), so sending it again is byte-identical, and the route's target, so it goes where it was
meant to. A Slack target is a secret: it is stored (the API's database already holds the
webhooks' signing secrets) but never shown; ``destination`` is what listings show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from stockpred.domain.errors import InvalidInputError, NotFoundError
from stockpred.store.sql import TableStore, as_utc

__all__ = ["NoticeDeadLetter", "NoticeStore"]

_MAX_ERROR_LENGTH = 200
_MAX_TITLE_LENGTH = 200

_METADATA = sa.MetaData()
_DEAD_LETTERS = sa.Table(
    "notice_dead_letters",
    _METADATA,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("notice_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("destination", sa.String(300), nullable=False),
    sa.Column("title", sa.String(_MAX_TITLE_LENGTH), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # A status code, an exception class or a receiver's short error code.
    sa.Column("last_error", sa.String(_MAX_ERROR_LENGTH), nullable=False),
    sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True, slots=True)
class NoticeDeadLetter:
    """A notice not delivered to one route: ``payload`` is what was sent, ``target`` where (left
    out of ``repr``: a Slack URL is a secret), ``destination`` the target fit to show."""

    id: str
    notice_id: str
    channel: str
    target: str = field(repr=False)
    destination: str
    title: str
    payload: str = field(repr=False)
    attempts: int
    last_error: str
    first_attempt_at: datetime
    parked_at: datetime


class NoticeStore:
    """The dead letters of the Slack and email channels. ``url`` is a SQLAlchemy database URL
    (``sqlite:///...`` or ``postgresql+psycopg://...``); the table is created on opening."""

    def __init__(self, url: str) -> None:
        self._tables = TableStore(
            url, _METADATA, purpose="notification dead letters", name="the notification store"
        )

    def check(self) -> None:
        """Readiness: raises StoreError when the database does not answer."""
        self._tables.check()

    def park(self, letter: NoticeDeadLetter) -> None:
        """Keep an undelivered notice (``last_error`` and ``title`` cut to their columns)."""
        row = {
            "id": letter.id,
            "notice_id": letter.notice_id,
            "channel": letter.channel,
            "target": letter.target,
            "destination": letter.destination[:300],
            "title": letter.title[:_MAX_TITLE_LENGTH],
            "payload": letter.payload,
            "attempts": letter.attempts,
            "last_error": letter.last_error[:_MAX_ERROR_LENGTH],
            "first_attempt_at": letter.first_attempt_at,
            "parked_at": letter.parked_at,
        }
        self._tables.run("park a notice", lambda c: c.execute(_DEAD_LETTERS.insert().values(**row)))

    def dead_letters(self, *, limit: int = 100) -> list[NoticeDeadLetter]:
        """Parked notices, most recently parked first."""
        if limit < 1:
            raise InvalidInputError(f"limit must be at least 1, got {limit}")
        query = (
            sa.select(_DEAD_LETTERS)
            .order_by(_DEAD_LETTERS.c.parked_at.desc(), _DEAD_LETTERS.c.id)
            .limit(limit)
        )
        rows = self._tables.run("list dead letters", lambda c: c.execute(query).mappings().all())
        return [
            NoticeDeadLetter(
                id=row["id"],
                notice_id=row["notice_id"],
                channel=row["channel"],
                target=row["target"],
                destination=row["destination"],
                title=row["title"],
                payload=row["payload"],
                attempts=row["attempts"],
                last_error=row["last_error"],
                first_attempt_at=as_utc(row["first_attempt_at"]),
                parked_at=as_utc(row["parked_at"]),
            )
            for row in rows
        ]

    def count(self) -> int:
        """How many notices are parked."""
        query = sa.select(sa.func.count()).select_from(_DEAD_LETTERS)
        return int(self._tables.run("count dead letters", lambda c: c.execute(query).scalar_one()))

    def remove(self, letter_id: str) -> None:
        """Forget a dead letter (it was delivered after all)."""
        query = _DEAD_LETTERS.delete().where(_DEAD_LETTERS.c.id == letter_id)
        if not self._tables.run("remove a dead letter", lambda c: c.execute(query).rowcount):
            raise NotFoundError(
                f"no dead letter {letter_id!r}; list them with `stockpred notify dead-letters`"
            )

    def record_failure(
        self, letter_id: str, *, attempts: int, last_error: str, parked_at: datetime
    ) -> None:
        """A dead letter sent again and still not delivered: its tries so far and last error."""
        query = (
            _DEAD_LETTERS.update()
            .where(_DEAD_LETTERS.c.id == letter_id)
            .values(
                attempts=attempts, last_error=last_error[:_MAX_ERROR_LENGTH], parked_at=parked_at
            )
        )
        self._tables.run("update a dead letter", lambda c: c.execute(query))

    def close(self) -> None:
        """Close the connection pool."""
        self._tables.close()

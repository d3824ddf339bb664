"""Every alert Alertmanager sent the API, kept for the health page: the table ``received_alerts``
on the API's database (SQLite by default, PostgreSQL in production), beside the dead letters
(:mod:`.notice_store`) and kept the same way.

A row is what an operator reads first: when it came, firing or resolved, its name, severity,
summary and the ticker it is about (when its labels name one); texts are cut to their columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from stockpred.domain.errors import InvalidInputError
from stockpred.store.sql import TableStore, as_utc

__all__ = ["AlertLog", "AlertStatus", "ReceivedAlert"]

AlertStatus = Literal["firing", "resolved"]
_STATUSES: tuple[str, ...] = ("firing", "resolved")
_MAX_NAME = 200
_MAX_SUMMARY = 2000

_METADATA = sa.MetaData()
_ALERTS = sa.Table(
    "received_alerts",
    _METADATA,
    # Increasing: alerts of one delivery share received_at and keep their order by it.
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("alertname", sa.String(_MAX_NAME), nullable=False),
    sa.Column("severity", sa.String(_MAX_NAME), nullable=True),
    sa.Column("summary", sa.String(_MAX_SUMMARY), nullable=False),
    sa.Column("ticker", sa.String(_MAX_NAME), nullable=True),
)


@dataclass(frozen=True, slots=True)
class ReceivedAlert:
    """One alert as it was received."""

    received_at: datetime
    status: AlertStatus
    alertname: str
    severity: str | None
    summary: str
    ticker: str | None


class AlertLog:
    """The alerts received. ``url`` is a SQLAlchemy database URL (``sqlite:///...`` or
    ``postgresql+psycopg://...``); the table is created on opening."""

    def __init__(self, url: str) -> None:
        self._tables = TableStore(url, _METADATA, purpose="received alerts", name="the alert log")

    def check(self) -> None:
        """Readiness: raises StoreError when the database does not answer."""
        self._tables.check()

    def close(self) -> None:
        """Close the connection pool."""
        self._tables.close()

    def record(self, alerts: list[ReceivedAlert]) -> None:
        """Keep ``alerts`` (one transaction: all or none); ``received_at`` UTC-aware."""
        for alert in alerts:
            if alert.status not in _STATUSES:
                raise InvalidInputError(
                    f"an alert's status is 'firing' or 'resolved', got {alert.status[:20]!r}"
                )
            if alert.received_at.utcoffset() is None:
                raise InvalidInputError(
                    f"received_at must be timezone-aware (UTC), got {alert.received_at}"
                )
        if not alerts:
            return
        rows = [
            {
                # In UTC: SQLite keeps the wall time only, and orders by it.
                "received_at": as_utc(alert.received_at),
                "status": alert.status,
                "alertname": alert.alertname[:_MAX_NAME],
                "severity": None if alert.severity is None else alert.severity[:_MAX_NAME],
                "summary": alert.summary[:_MAX_SUMMARY],
                "ticker": None if alert.ticker is None else alert.ticker[:_MAX_NAME],
            }
            for alert in alerts
        ]
        self._tables.run("record alerts", lambda c: c.execute(_ALERTS.insert(), rows))

    def recent(self, *, limit: int = 50) -> list[ReceivedAlert]:
        """The last ``limit`` alerts received, newest first (in the order received, for alerts
        of one delivery)."""
        if limit < 1:
            raise InvalidInputError(f"limit must be at least 1, got {limit}")
        query = (
            sa.select(_ALERTS)
            .order_by(_ALERTS.c.received_at.desc(), _ALERTS.c.id.desc())
            .limit(limit)
        )
        rows = self._tables.run("list alerts", lambda c: c.execute(query).mappings().all())
        return [
            ReceivedAlert(
                received_at=as_utc(row["received_at"]),
                status="resolved" if row["status"] == "resolved" else "firing",
                alertname=row["alertname"],
                severity=row["severity"],
                summary=row["summary"],
                ticker=row["ticker"],
            )
            for row in rows
        ]

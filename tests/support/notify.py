"""A dispatcher of notices to servers on loopback: Slack webhooks at their URL, email through
the SMTP server on 127.0.0.1 at ``port`` (tests/support/smtp.py), retried without waiting."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

from stockpred.notify.channels import EmailChannel, SlackChannel
from stockpred.notify.dispatch import Dispatcher
from stockpred.notify.notice_store import NoticeStore
from stockpred.notify.retry import RetryPolicy
from stockpred.notify.routing import Route

__all__ = ["loopback_dispatcher"]


async def _no_wait(_: float) -> None:
    return None


def loopback_dispatcher(
    routes: list[Route],
    *,
    store: NoticeStore,
    tls: ssl.SSLContext | None = None,
    port: int = 0,
    attempts: int = 3,
) -> Dispatcher:
    """``routes`` sent from stockpred@example.com, ``attempts`` tries each with no pause
    between them, parked in ``store``."""
    return Dispatcher(
        routes,
        {
            "slack": SlackChannel,
            "email": lambda to: EmailChannel(
                "127.0.0.1",
                port,
                sender="stockpred@example.com",
                recipients=[a.strip() for a in to.split(",")],
                tls_context=tls,
                timeout_seconds=10,
            ),
        },
        dead_letters=store,
        clock=lambda: datetime.now(UTC),
        policy=RetryPolicy(attempts=attempts, sleep=_no_wait, jitter=lambda: 0.0),
    )

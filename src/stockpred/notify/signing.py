"""How webhook deliveries are signed, and the check a receiver runs on each one.

A delivery's body is the event's JSON (sorted keys, compact separators, ASCII: the signature
covers exactly the bytes sent) and it carries three headers::

    X-Stockpred-Event-Id: evt_...            (the same for every try: receivers deduplicate on it)
    X-Stockpred-Timestamp: 1767225600        (unix seconds of this try)
    X-Stockpred-Signature: t=1767225600,v1=<hex HMAC-SHA256 of b"<t>." + body>

Kept apart from delivery and storage so that a receiver (or its tests) can import the check
without pulling in SQLAlchemy or an HTTP client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime

from stockpred.domain.errors import InvalidInputError

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "encode_event",
    "sign",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Stockpred-Signature"
EVENT_ID_HEADER = "X-Stockpred-Event-Id"
TIMESTAMP_HEADER = "X-Stockpred-Timestamp"


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` keyed by ``secret`` (Stripe's scheme).

    The timestamp is inside the MAC so a captured delivery cannot be replayed later with a fresh
    timestamp; the receiver refuses old ones (:func:`verify_signature`)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    """The value of ``X-Stockpred-Signature``: ``t=<unix seconds>,v1=<hex>``."""
    return f"t={timestamp},v1={sign(secret=secret, timestamp=timestamp, body=body)}"


def verify_signature(
    *, secret: str, header: str, body: bytes, now: datetime, tolerance_seconds: int = 300
) -> bool:
    """What a trading platform should run on every delivery before trusting it.

    ``header`` is the ``X-Stockpred-Signature`` value, ``body`` the raw request body (bytes as
    received, before any JSON parsing), ``now`` the receiver's UTC-aware time. True only when a
    ``v1`` signature matches (compared in constant time, so timing reveals nothing of the
    expected value) and ``t`` is within ``tolerance_seconds`` of ``now`` (replays of old
    deliveries are refused). Several ``v1`` entries are accepted, for secret rotation.
    Deduplicate on ``X-Stockpred-Event-Id``: a retried event arrives more than once.
    """
    if now.tzinfo is None:
        raise InvalidInputError("verify_signature needs a UTC-aware now, e.g. datetime.now(UTC)")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret=secret, timestamp=timestamp, body=body)
    # Check every candidate, so the time taken does not say which one matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)


def encode_event(event: Mapping[str, object]) -> bytes:
    """The body of a delivery: JSON with sorted keys and compact separators, ASCII only, so
    the same event always gives the same bytes. Datetimes become ISO 8601 strings."""

    def convert(value: object) -> object:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    try:
        text = json.dumps(
            event, sort_keys=True, separators=(",", ":"), allow_nan=False, default=convert
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"a webhook event must be JSON (strings, numbers, lists, objects, datetimes); "
            f"this one holds {exc}; convert it before publishing"
        ) from exc
    return text.encode("ascii")

"""How a delivery is tried again: exponential backoff with full jitter, a receiver's Retry-After
honoured (capped), a fixed number of tries: what the webhooks (:mod:`.webhooks`) and the
Slack and email channels share.

A channel's single try raises :class:`RetryableDeliveryError` when the receiver may recover (a
broken link, a timeout, a 429, a 5xx, an SMTP 4xx) and :class:`DeliveryError` when it will not.
``reason`` is what is logged and kept in the dead letters: a status code, an exception class, a
receiver's short error code; never a secret such as a Slack webhook URL.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from stockpred.domain.errors import InvalidInputError

__all__ = ["DeliveryError", "RetryPolicy", "RetryableDeliveryError", "retry_after_seconds"]


class DeliveryError(Exception):
    """One try failed for good; ``reason`` is safe to store and log."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RetryableDeliveryError(DeliveryError):
    """One try failed, and another may succeed."""


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries at most; before try n+1 a pause of the receiver's Retry-After (when it
    sent one) or uniform in [0, min(max_backoff_seconds, backoff_seconds * 2**(n-1))], both
    capped at ``max_backoff_seconds``. ``sleep`` and ``jitter`` (a fraction in [0, 1)) are
    injectable so tests run without waiting."""

    attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidInputError(f"delivery attempts must be at least 1, got {self.attempts}")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < self.backoff_seconds:
            raise InvalidInputError(
                "delivery backoff must satisfy 0 <= backoff_seconds <= max_backoff_seconds, "
                f"got {self.backoff_seconds} and {self.max_backoff_seconds}"
            )

    def wait(self, state: RetryCallState) -> float:
        """Seconds before the next try (tenacity's ``wait``)."""
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, DeliveryError) and failure.retry_after is not None:
            return min(failure.retry_after, self.max_backoff_seconds)
        exponent = min(state.attempt_number - 1, 60)
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2**exponent)
        return float(self.jitter() * ceiling)

    def retrying(
        self, *, before_sleep: Callable[[RetryCallState], None] | None = None
    ) -> AsyncRetrying:
        """A tenacity loop that retries :class:`RetryableDeliveryError` only and re-raises the
        last failure."""
        return AsyncRetrying(
            sleep=self.sleep,
            stop=stop_after_attempt(self.attempts),
            wait=self.wait,
            retry=retry_if_exception_type(RetryableDeliveryError),
            before_sleep=before_sleep,
            reraise=True,
        )


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())

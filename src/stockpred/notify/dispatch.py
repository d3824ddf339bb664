"""Sending a notice to every route that wants it, each on its own: one channel that fails (or
raises) never stops the others. A delivery is tried with the retry policy (:mod:`.retry`);
what still failed after the last try is parked in the dead letters (:mod:`.notice_store`),
which `stockpred notify dead-letters` lists and ``--retry`` sends again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from tenacity import RetryCallState

from stockpred.domain.errors import InvalidInputError, StoreError
from stockpred.notify.channels import Channel
from stockpred.notify.messages import Notice
from stockpred.notify.notice_store import NoticeDeadLetter
from stockpred.notify.retry import DeliveryError, RetryPolicy
from stockpred.notify.routing import Route, routes_for

__all__ = ["ChannelFactory", "DeadLetterStore", "Dispatcher", "Outcome", "Sent"]

_LOG = logging.getLogger("stockpred.notify")

Outcome = Literal["delivered", "parked", "failed"]
# A route's channel from its target: a Slack URL, or email addresses.
ChannelFactory = Callable[[str], Channel]


class DeadLetterStore(Protocol):
    """Where undelivered notices are kept (:class:`~.notice_store.NoticeStore`)."""

    def park(self, letter: NoticeDeadLetter) -> None: ...

    def dead_letters(self, *, limit: int = 100) -> list[NoticeDeadLetter]: ...

    def count(self) -> int: ...

    def remove(self, letter_id: str) -> None: ...

    def record_failure(
        self, letter_id: str, *, attempts: int, last_error: str, parked_at: datetime
    ) -> None: ...

    def check(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of a notice on one route: ``destination`` is safe to show."""

    channel: str
    destination: str
    outcome: Outcome
    attempts: int
    error: str | None = None


class Dispatcher:
    """Routes notices (``routes``) to channels made by ``channels[route.channel](route.target)``.

    :meth:`dispatch` sends one notice and waits; :meth:`submit` schedules it as an asyncio task
    tracked here, which :meth:`drain` waits for and :meth:`aclose` cancels (a cancelled
    delivery is parked, not lost). ``on_outcome`` is told each delivery's outcome (metrics).
    """

    def __init__(
        self,
        routes: Sequence[Route],
        channels: Mapping[str, ChannelFactory],
        *,
        dead_letters: DeadLetterStore,
        clock: Callable[[], datetime],
        policy: RetryPolicy | None = None,
        on_outcome: Callable[[str, Outcome], None] | None = None,
    ) -> None:
        missing = sorted({r.channel for r in routes} - set(channels))
        if missing:
            raise InvalidInputError(
                f"no channel is configured for route kind {missing[0]!r}; known: "
                f"{', '.join(sorted(channels)) or '(none)'}"
            )
        self._routes = tuple(routes)
        self._channels = dict(channels)
        # Built once: a bad target (not a URL, not an address) fails at start-up.
        self._built = tuple(channels[r.channel](r.target) for r in self._routes)
        self._store = dead_letters
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._on_outcome = on_outcome
        self._tasks: set[asyncio.Task[list[Sent]]] = set()
        self._closed = False

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._routes

    def check(self) -> None:
        """Readiness of the dead-letter store (raises StoreError)."""
        self._store.check()

    async def dispatch(self, notice: Notice) -> list[Sent]:
        """Send ``notice`` to every matching route at once and wait; one result per route."""
        wanted = set(map(id, routes_for(notice, self._routes)))
        pairs = [(r, c) for r, c in zip(self._routes, self._built, strict=True) if id(r) in wanted]
        if not pairs:
            return []
        notice_id = "ntc_" + secrets.token_urlsafe(12)
        results = await asyncio.gather(
            *(self._route(route, channel, notice, notice_id) for route, channel in pairs),
            return_exceptions=True,
        )
        sent: list[Sent] = []
        for (route, _), result in zip(pairs, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                _LOG.error(
                    "notice %r to %s %s failed: %s",
                    notice.title,
                    route.channel,
                    route.destination,
                    type(result).__name__,
                )
                sent.append(Sent(route.channel, route.destination, "failed", 0, "unexpected"))
            else:
                sent.append(result)
        return sent

    def submit(self, notice: Notice) -> None:
        """Schedule :meth:`dispatch` of ``notice`` and return at once (a running loop needed)."""
        if self._closed:
            raise StoreError("the notifier is closed; notices submitted now are not sent")
        task = asyncio.get_running_loop().create_task(
            self._dispatch_logged(notice), name=f"notice {notice.title[:40]}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch_logged(self, notice: Notice) -> list[Sent]:
        try:
            return await self.dispatch(notice)
        except Exception:
            _LOG.exception("notice %r could not be dispatched", notice.title)
            return []

    async def _route(self, route: Route, channel: Channel, notice: Notice, notice_id: str) -> Sent:
        first_attempt_at = self._clock()
        try:
            payload = channel.render(notice)
        except Exception:
            _LOG.exception("notice %r could not be rendered for %s", notice.title, route.channel)
            return self._report(Sent(route.channel, channel.destination, "failed", 0, "render"))
        attempts = 0
        try:
            attempts, error = await self._send(channel, payload)
        except asyncio.CancelledError:
            # Shutdown: park it now rather than lose it, and let the cancellation go on.
            self._park_logged(
                route.channel,
                route.target,
                channel,
                notice_id=notice_id,
                title=notice.title,
                payload=payload,
                attempts=attempts,
                last_error="cancelled at shutdown",
                first_attempt_at=first_attempt_at,
            )
            raise
        if error is None:
            return self._report(Sent(route.channel, channel.destination, "delivered", attempts))
        await asyncio.to_thread(
            self._park_logged,
            route.channel,
            route.target,
            channel,
            notice_id=notice_id,
            title=notice.title,
            payload=payload,
            attempts=attempts,
            last_error=error,
            first_attempt_at=first_attempt_at,
        )
        return self._report(Sent(route.channel, channel.destination, "parked", attempts, error))

    async def _send(self, channel: Channel, payload: str) -> tuple[int, str | None]:
        """Try until delivered or the last try: (tries made, None or the last error)."""
        attempts = 0

        def log_retry(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome is not None else None
            reason = failure.reason if isinstance(failure, DeliveryError) else "failure"
            _LOG.info(
                "notice to %s: try %d failed (%s); next in %.1f s",
                channel.destination,
                state.attempt_number,
                reason,
                state.upcoming_sleep,
            )

        try:
            async for attempt in self._policy.retrying(before_sleep=log_retry):
                with attempt:
                    attempts += 1
                    await channel.send(payload)
        except DeliveryError as failure:
            return attempts, failure.reason
        except Exception as exc:
            # A bug in a channel: the notice is parked all the same, so it is not lost.
            _LOG.exception("notice to %s: the channel failed unexpectedly", channel.destination)
            return attempts, f"unexpected {type(exc).__name__}"
        return attempts, None

    def _park_logged(
        self,
        kind: str,
        target: str,
        channel: Channel,
        *,
        notice_id: str,
        title: str,
        payload: str,
        attempts: int,
        last_error: str,
        first_attempt_at: datetime,
    ) -> None:
        letter = NoticeDeadLetter(
            id="ndl_" + secrets.token_urlsafe(10),
            notice_id=notice_id,
            channel=kind,
            target=target,
            destination=channel.destination,
            title=title,
            payload=payload,
            attempts=attempts,
            last_error=last_error,
            first_attempt_at=first_attempt_at,
            parked_at=self._clock(),
        )
        try:
            self._store.park(letter)
        except StoreError as exc:
            _LOG.error("notice %r to %s was lost: %s", title, channel.destination, exc)
            return
        _LOG.warning(
            "notice %r not delivered to %s %s after %d attempt(s) (%s); parked in the dead "
            "letters (stockpred notify dead-letters)",
            title,
            kind,
            channel.destination,
            attempts,
            last_error,
        )

    def _report(self, sent: Sent) -> Sent:
        if self._on_outcome is not None:
            self._on_outcome(sent.channel, sent.outcome)
        return sent

    # -- dead letters -------------------------------------------------------------------------

    def dead_letters(self, *, limit: int = 100) -> list[NoticeDeadLetter]:
        """Parked notices, most recently parked first."""
        return self._store.dead_letters(limit=limit)

    def dead_letter_count(self) -> int:
        """How many notices are parked."""
        return self._store.count()

    async def redeliver(self, letter: NoticeDeadLetter) -> Sent:
        """Send a dead letter's payload again to its target, with the retry policy: removed
        from the dead letters when delivered, else kept with its tries and last error."""
        factory = self._channels.get(letter.channel)
        if factory is None:
            raise InvalidInputError(
                f"dead letter {letter.id} is for channel {letter.channel!r}, which is not "
                "configured any more"
            )
        channel = factory(letter.target)
        attempts, error = await self._send(channel, letter.payload)
        if error is None:
            await asyncio.to_thread(self._store.remove, letter.id)
            return self._report(Sent(letter.channel, letter.destination, "delivered", attempts))
        await asyncio.to_thread(
            self._store.record_failure,
            letter.id,
            attempts=letter.attempts + attempts,
            last_error=error,
            parked_at=self._clock(),
        )
        return self._report(Sent(letter.channel, letter.destination, "parked", attempts, error))

    # -- lifetime -----------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait until every submitted notice has been delivered or parked."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel what is still being sent (each parks its payload) and close the store. Call
        :meth:`drain` first for a graceful shutdown."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._store.close()

"""The websocket fan-out of one API process: rendered messages handed to each connected
client's bounded queue on one event loop.

The bus (``bus_url``) brings each new forecast to every API process once (api/background.py,
``relay_predictions``); this hands it to that process's clients. A client that falls behind by
more than its queue loses the *oldest* messages, never blocks the publisher, and can see how
many it lost (``dropped``): a slow websocket client must not slow the service for everyone.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

__all__ = ["Fanout", "SeenIds", "Subscription"]

Message = Mapping[str, object]


@dataclass(eq=False)
class Subscription:
    """One subscriber's queue on one topic; ``dropped`` counts messages lost to overflow."""

    topic: str
    queue: asyncio.Queue[Message]
    dropped: int = field(default=0)

    async def get(self) -> Message:
        return await self.queue.get()


class Fanout:
    """Publish/subscribe within one process. ``publish`` never waits."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self._queue_size = queue_size
        self._subscriptions: dict[str, set[Subscription]] = {}

    def publish(self, topic: str, message: Message) -> int:
        """Hand ``message`` to every subscriber of ``topic``; returns how many got it."""
        subscribers = self._subscriptions.get(topic, ())
        for subscription in subscribers:
            if subscription.queue.full():
                subscription.queue.get_nowait()
                subscription.dropped += 1
            subscription.queue.put_nowait(message)
        return len(subscribers)

    def subscribe(self, topic: str) -> Subscription:
        subscription = Subscription(topic, asyncio.Queue(maxsize=self._queue_size))
        self._subscriptions.setdefault(topic, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.get(subscription.topic, set()).discard(subscription)

    @asynccontextmanager
    async def subscription(self, topic: str) -> AsyncIterator[Subscription]:
        """A subscription removed when the block ends, however it ends."""
        subscription = self.subscribe(topic)
        try:
            yield subscription
        finally:
            self.unsubscribe(subscription)

    def subscribers(self, topic: str) -> int:
        return len(self._subscriptions.get(topic, ()))


class SeenIds:
    """The event ids of the forecasts pushed in the last ``ttl`` seconds (at most ``size``), so
    that one computed by several processes, or delivered again by the bus, reaches a websocket
    once; a forecast published again later (the demo's next replay pass) is pushed again."""

    def __init__(
        self,
        size: int = 8192,
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ids: OrderedDict[str, float] = OrderedDict()
        self._size = size
        self._ttl = ttl
        self._clock = clock

    def first_time(self, event_id: str) -> bool:
        now = self._clock()
        while self._ids:
            oldest, at = next(iter(self._ids.items()))
            if now - at < self._ttl and len(self._ids) <= self._size:
                break
            del self._ids[oldest]
        if event_id in self._ids:
            return False
        self._ids[event_id] = now
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True

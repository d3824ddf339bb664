"""The in-process bus (``memory://``): a bounded log per topic, consumer groups on one event loop.

It is the embedded default: it keeps the :class:`~stockpred.bus.base.Bus` contract (groups,
acknowledgement, redelivery after ``ack_timeout``, lag) within one process. Records are frozen
dataclasses, so they are handed over as they are, never serialized.

Each topic keeps its newest ``max_records`` records. When a group falls that far behind, the
oldest records are dropped for it rather than the publisher waiting (``dropped`` counts them):
a slow consumer must not slow the service for everyone (as in :mod:`stockpred.api.fanout`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import repeat

from stockpred.bus.base import Delivery, Record, Subscription, check_name
from stockpred.domain.errors import BusError

__all__ = ["InProcessBus"]


@dataclass(eq=False)
class _Group:
    next_offset: int
    # offset -> when it is due again; in delivery order, hence in deadline order.
    pending: OrderedDict[int, float] = field(default_factory=OrderedDict)
    dropped: int = 0


@dataclass(eq=False)
class _Topic:
    max_records: int
    keys: list[str] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    first_offset: int = 0
    groups: dict[str, _Group] = field(default_factory=dict)
    published: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def end_offset(self) -> int:
        return self.first_offset + len(self.records)

    def extend(self, items: Iterable[tuple[str, Record]]) -> None:
        pairs = items if isinstance(items, list) else list(items)
        if not pairs:
            return
        keys, records = zip(*pairs, strict=True)
        self.keys.extend(keys)
        self.records.extend(records)
        overflow = len(self.records) - self.max_records
        if overflow <= 0:
            return
        del self.keys[:overflow], self.records[:overflow]
        self.first_offset += overflow
        for group in self.groups.values():
            if group.next_offset < self.first_offset:
                group.dropped += self.first_offset - group.next_offset
                group.next_offset = self.first_offset
            gone = [o for o in group.pending if o < self.first_offset]
            for offset in gone:
                del group.pending[offset]
            group.dropped += len(gone)

    def wake(self) -> None:
        self.published.set()
        self.published = asyncio.Event()


class InProcessBus:
    """Topics, groups, acknowledgement and redelivery within one process and event loop."""

    def __init__(
        self,
        *,
        ack_timeout: float = 30.0,
        max_records: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be > 0 seconds, got {ack_timeout}")
        if max_records < 1:
            raise ValueError(f"max_records must be >= 1, got {max_records}")
        self.ack_timeout = ack_timeout
        self.max_records = max_records
        self._clock = clock
        self._topics: dict[str, _Topic] = {}
        self._closed = False

    def _topic(self, name: str) -> _Topic:
        if self._closed:
            raise BusError("the in-process bus is closed; open a new one")
        topic = self._topics.get(check_name("topic", name))
        if topic is None:
            topic = self._topics[name] = _Topic(self.max_records)
        return topic

    async def publish(self, topic: str, *, key: str, record: Record) -> None:
        target = self._topic(topic)
        target.extend([(key, record)])
        target.wake()

    async def publish_many(self, topic: str, items: Iterable[tuple[str, Record]]) -> None:
        target = self._topic(topic)
        target.extend(items)
        target.wake()

    async def subscribe(
        self, topic: str, *, group: str, consumer: str, new_only: bool = False
    ) -> InProcessSubscription:
        target = self._topic(topic)
        check_name("group", group)
        if group not in target.groups:
            start = target.end_offset if new_only else target.first_offset
            target.groups[group] = _Group(next_offset=start)
        return InProcessSubscription(self, topic=topic, group=group, consumer=consumer)

    async def delete_group(self, topic: str, *, group: str) -> None:
        target = self._topics.get(check_name("topic", topic))
        if target is not None:
            target.groups.pop(check_name("group", group), None)

    async def lag(self, topic: str, *, group: str) -> int:
        target = self._topics.get(check_name("topic", topic))
        if target is None:
            return 0
        state = target.groups.get(check_name("group", group))
        if state is None:
            return len(target.records)
        return target.end_offset - state.next_offset + len(state.pending)

    def dropped(self, topic: str, *, group: str) -> int:
        """How many records ``group`` lost on ``topic`` because it fell ``max_records`` behind."""
        target = self._topics.get(topic)
        state = target.groups.get(group) if target is not None else None
        return state.dropped if state is not None else 0

    async def close(self) -> None:
        self._closed = True
        for topic in self._topics.values():
            topic.wake()

    def _take(
        self, subscription: InProcessSubscription, limit: int
    ) -> tuple[list[Delivery], float | None]:
        """Up to ``limit`` deliveries due for the subscription's group, and when the next
        pending one falls due (None if none is pending)."""
        topic = subscription.topic
        target = self._topic(topic)
        state = target.groups.get(subscription.group)
        if state is None:
            raise BusError(f"the group {subscription.group!r} of topic {topic!r} was deleted")
        pending = state.pending
        now = self._clock()
        due_again = now + self.ack_timeout
        first = target.first_offset
        taken: list[Delivery] = []
        while pending and len(taken) < limit:
            offset, due = next(iter(pending.items()))
            if due > now:
                break
            pending.move_to_end(offset)
            pending[offset] = due_again
            index = offset - first
            key, record = target.keys[index], target.records[index]
            taken.append(Delivery(topic, key, record, offset, subscription))
        start = state.next_offset
        stop = min(target.end_offset, start + limit - len(taken))
        if stop > start:
            offsets = range(start, stop)
            pending.update(zip(offsets, repeat(due_again)))
            taken += [
                Delivery(topic, key, record, offset, subscription)
                for offset, key, record in zip(
                    offsets,
                    target.keys[start - first : stop - first],
                    target.records[start - first : stop - first],
                    strict=True,
                )
            ]
            state.next_offset = stop
        next_due = next(iter(pending.values())) if pending else None
        return taken, next_due

    def _ack(self, subscription: InProcessSubscription, deliveries: Sequence[Delivery]) -> None:
        state = self._topic(subscription.topic).groups.get(subscription.group)
        if state is None:
            return  # deleted: nothing is pending any more
        forget = state.pending.pop
        for delivery in deliveries:
            forget(delivery.receipt, None)  # type: ignore[call-overload]

    def _published(self, topic: str) -> asyncio.Event:
        return self._topic(topic).published


class InProcessSubscription(Subscription):
    """A consumer of an :class:`InProcessBus` group."""

    def __init__(self, bus: InProcessBus, *, topic: str, group: str, consumer: str) -> None:
        super().__init__(topic=topic, group=group, consumer=consumer)
        self._bus = bus
        self._closed = False

    async def fetch(self, *, max_records: int = 100, timeout: float = 1.0) -> list[Delivery]:
        if self._closed:
            raise BusError(f"the subscription of {self.group!r} to {self.topic!r} is closed")
        deadline = self._bus._clock() + max(timeout, 0.0)
        while True:
            published = self._bus._published(self.topic)
            taken, next_due = self._bus._take(self, max_records)
            if taken:
                return taken
            now = self._bus._clock()
            wait = deadline - now
            if next_due is not None:
                wait = min(wait, next_due - now)
            if wait <= 0 and now >= deadline:
                return []
            with suppress(TimeoutError):
                await asyncio.wait_for(published.wait(), timeout=max(wait, 0.0))
            if self._bus._closed:
                return []

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        self._bus._ack(self, deliveries)

    async def close(self) -> None:
        self._closed = True

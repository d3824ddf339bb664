"""The ``Bus`` protocol: domain records published to topics by key, consumed by groups, acked.

The protocol is asynchronous: the API and the stream processor run on an event loop, and every
broker client worth having (redis-py, nats-py) is asyncio; a synchronous writer (a CLI command)
wraps its publishes in ``asyncio.run``. One shape for every backend::

    bus = open_bus("redis://127.0.0.1:6379/0")
    await bus.publish("bars", key="AAPL", record=bar)
    async with await bus.subscribe("bars", group="stream", consumer="worker-1") as subscription:
        for delivery in await subscription.fetch(max_records=100, timeout=1.0):
            handle(delivery.record)
            await delivery.ack()
    await bus.lag("bars", group="stream")  # records published, not yet acknowledged by the group
    await bus.close()

What every backend keeps (``tests/integration/test_bus_contract.py`` checks each one):

- **At least once.** A delivery not acknowledged within the bus's ``ack_timeout`` (seconds) is
  delivered again, to the same consumer or another of its group; a consumer that dies without
  acknowledging loses nothing. A redelivery may duplicate work, so sinks are idempotent on the
  record's natural key (DESIGN.md, "Events and writers").
- **Groups.** Every group receives every record of the topic, starting from the oldest one the
  broker keeps (or, for a group created with ``new_only``, after the newest one kept when it
  was created: a process that only follows what happens from now on, as each API process
  does); within a group each record is handed to one consumer at a time. ``delete_group``
  forgets a group's place and what it had not acknowledged.
- **Order per key.** One consumer receives one key's records in the order they were published,
  redeliveries aside. Only Kafka also keeps all of a key's records on one consumer of a group
  (partitions); Redis Streams, NATS JetStream and the in-process log share a topic's records
  among a group's consumers in publish order.
- **Lag** is the number of records published to the topic that the group has not acknowledged
  yet (delivered or not). A group that never subscribed lags by every record kept.
- **Errors** of a broker or its client surface as :class:`~stockpred.domain.errors.BusError`
  (raised ``from`` the driver's exception); a message that cannot be read as a record is
  logged, acknowledged and skipped (``Subscription.rejected`` counts them), so one bad message
  never blocks the good ones behind it.

Topic, group and consumer names are 1 to 100 letters, digits, ``_`` or ``-``: a name every
backend accepts as a stream, subject, consumer or topic name without escaping.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from stockpred.domain.errors import BusError
from stockpred.domain.records import (
    Bar,
    FeaturesWritten,
    FeedHealth,
    Headline,
    MacroPoint,
    ModelPromoted,
    Prediction,
)

__all__ = ["Bus", "Delivery", "Record", "Subscription", "check_name"]

# What the bus carries: the domain records, and the events writers announce once committed.
Record = Bar | Headline | MacroPoint | Prediction | FeaturesWritten | ModelPromoted | FeedHealth

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def check_name(kind: str, value: str) -> str:
    """``value`` when it is a valid topic, group or consumer name (``kind`` says which)."""
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise BusError(
            f"{kind} name {value!r} is not valid: use 1 to 100 letters, digits, '_' or '-', "
            "starting with a letter or digit (e.g. 'predictions', 'stream-1')"
        )
    return value


# Not frozen: a frozen dataclass costs four times as much to build, and a bus builds one per
# record; nothing in stockpred assigns to a delivery.
@dataclass(slots=True, eq=False)
class Delivery:
    """One record handed to one consumer; ``ack()`` once it has been handled. Read-only.

    ``receipt`` is the backend's handle on the message (a stream entry id, a JetStream message,
    a partition and offset); only the subscription that made the delivery reads it.
    """

    topic: str
    key: str
    record: Record
    receipt: object = field(repr=False)
    subscription: Subscription = field(repr=False)

    async def ack(self) -> None:
        """Acknowledge this delivery: the group will not be handed the record again."""
        await self.subscription.ack([self])


class Subscription(ABC):
    """One consumer's membership of a group on a topic.

    ``fetch`` hands out deliveries; ``ack`` acknowledges several at once (one broker round trip
    where the broker allows it); ``close`` leaves the group, and what was fetched but not
    acknowledged goes to the group again (after ``ack_timeout``, or at once where the broker
    notices the departure, as Kafka's rebalance does). Use it as an async context manager, or
    iterate it for an endless stream of deliveries.
    """

    def __init__(self, *, topic: str, group: str, consumer: str) -> None:
        self.topic = check_name("topic", topic)
        self.group = check_name("group", group)
        self.consumer = check_name("consumer", consumer)
        self.rejected = 0

    @abstractmethod
    async def fetch(self, *, max_records: int = 100, timeout: float = 1.0) -> list[Delivery]:
        """Up to ``max_records`` deliveries: redeliveries due first, then new records. Waits up
        to ``timeout`` seconds when none is ready; returns an empty list if none came."""

    @abstractmethod
    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge ``deliveries`` (made by this subscription); returns once the broker has
        the acknowledgements. Acknowledging twice, or after a redelivery, is harmless."""

    @abstractmethod
    async def close(self) -> None:
        """Leave the group; idempotent."""

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        while True:
            for delivery in await self.fetch():
                yield delivery


class Bus(Protocol):
    """Topics of domain records, consumer groups, acknowledgement, redelivery and lag."""

    async def publish(self, topic: str, *, key: str, record: Record) -> None:
        """Append ``record`` to ``topic`` under ``key``; returns once the broker has stored it."""
        ...

    async def publish_many(self, topic: str, items: Iterable[tuple[str, Record]]) -> None:
        """Append ``(key, record)`` pairs in order, batched or pipelined; returns once the
        broker has stored them all."""
        ...

    async def subscribe(
        self, topic: str, *, group: str, consumer: str, new_only: bool = False
    ) -> Subscription:
        """Join ``group`` on ``topic`` as ``consumer``; the group exists once this returns.
        A group this call creates starts at the oldest record kept, or with ``new_only`` after
        the newest; a group that exists keeps its place either way."""
        ...

    async def delete_group(self, topic: str, *, group: str) -> None:
        """Forget ``group`` on ``topic`` (close its subscriptions first); deleting a group that
        does not exist is harmless."""
        ...

    async def lag(self, topic: str, *, group: str) -> int:
        """How many records of ``topic`` ``group`` has not acknowledged yet."""
        ...

    async def close(self) -> None:
        """Release the broker connections; idempotent."""
        ...

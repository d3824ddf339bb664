"""The Redis Streams bus (``redis://HOST:6379/DB``), through redis-py's asyncio client.

- a topic is the stream ``NAMESPACE:bus:TOPIC``; each entry holds the key and the envelope of
  :mod:`stockpred.bus.serializer`; ``publish_many`` pipelines its XADDs;
- a group is a consumer group (XGROUP CREATE ... 0 MKSTREAM: it starts at the oldest entry;
  ``$`` for a ``new_only`` group); ``delete_group`` is XGROUP DESTROY;
- ``fetch`` first reads what this consumer name was handed before and never acknowledged (a
  restarted consumer resumes), then reclaims entries idle longer than ``ack_timeout`` from any
  consumer of the group (XAUTOCLAIM), then reads new entries (XREADGROUP ``>``);
- ``ack`` is one XACK for the batch;
- lag is XINFO GROUPS' ``lag`` (entries not yet delivered) plus ``pending`` (delivered, not
  acknowledged).

``max_length`` (URL ``?max_length=N``) trims each stream to about N entries on XADD; by default
streams are not trimmed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stockpred.bus.base import Delivery, Record, Subscription, check_name
from stockpred.bus.serializer import decode_record, encode_record
from stockpred.domain.errors import BusError, MessageFormatError
from stockpred.extras import import_optional

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["RedisStreamsBus"]

_LOG = logging.getLogger("stockpred.bus")
_KEY = b"k"
_RECORD = b"r"
_PIPELINE_CHUNK = 1000


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"Redis at {parts.hostname or 'localhost'}:{parts.port or 6379}"


class RedisStreamsBus:
    """A :class:`~stockpred.bus.base.Bus` on Redis Streams (Redis 7 or newer)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "stockpred",
        ack_timeout: float = 30.0,
        max_length: int | None = None,
    ) -> None:
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be > 0 seconds, got {ack_timeout}")
        module = import_optional("redis.asyncio", extra="redis", purpose="the Redis Streams bus")
        self._where = _where(url)
        self._errors: type[Exception] = import_optional(
            "redis.exceptions", extra="redis", purpose="the Redis Streams bus"
        ).RedisError
        self._client: redis.asyncio.Redis = module.Redis.from_url(url)
        self.namespace = check_name("namespace", namespace)
        self.ack_timeout = ack_timeout
        self.max_length = max_length

    def stream_key(self, topic: str) -> str:
        """The Redis key of ``topic``'s stream."""
        return f"{self.namespace}:bus:{check_name('topic', topic)}"

    @contextmanager
    def _translated(self, action: str, topic: str) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise BusError(f"{self._where} could not {action} on topic {topic!r}: {exc}") from exc

    async def publish(self, topic: str, *, key: str, record: Record) -> None:
        await self.publish_many(topic, [(key, record)])

    async def publish_many(self, topic: str, items: Iterable[tuple[str, Record]]) -> None:
        stream = self.stream_key(topic)
        with self._translated("publish", topic):
            pipe = self._client.pipeline(transaction=False)
            queued = 0
            for key, record in items:
                fields: dict[bytes, bytes] = {_KEY: key.encode(), _RECORD: encode_record(record)}
                pipe.xadd(stream, fields, maxlen=self.max_length)  # type: ignore[arg-type]
                queued += 1
                if queued == _PIPELINE_CHUNK:
                    await pipe.execute()
                    queued = 0
            if queued:
                await pipe.execute()

    async def subscribe(
        self, topic: str, *, group: str, consumer: str, new_only: bool = False
    ) -> RedisSubscription:
        stream = self.stream_key(topic)
        check_name("group", group)
        start = "$" if new_only else "0"
        with self._translated(f"create the group {group!r}", topic):
            try:
                await self._client.xgroup_create(stream, group, id=start, mkstream=True)
            except self._errors as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        return RedisSubscription(self, topic=topic, group=group, consumer=consumer)

    async def delete_group(self, topic: str, *, group: str) -> None:
        stream = self.stream_key(topic)
        check_name("group", group)
        with self._translated(f"delete the group {group!r}", topic):
            if await self._client.exists(stream):
                await self._client.xgroup_destroy(stream, group)

    async def lag(self, topic: str, *, group: str) -> int:
        stream = self.stream_key(topic)
        check_name("group", group)
        with self._translated(f"read the lag of {group!r}", topic):
            if not await self._client.exists(stream):
                return 0
            for info in await self._client.xinfo_groups(stream):
                if _text(info["name"]) != group:
                    continue
                undelivered = info.get("lag")
                if undelivered is None:
                    # Redis cannot count after an entry was deleted from the middle: count the
                    # entries after the last one delivered.
                    last = _text(info["last-delivered-id"])
                    later: Any = await self._client.xrange(stream, min=f"({last}")
                    undelivered = len(later)
                return int(undelivered) + int(info["pending"])
            return int(await self._client.xlen(stream))

    async def close(self) -> None:
        with self._translated("close the connection", "*"):
            await self._client.aclose()


class RedisSubscription(Subscription):
    """A consumer of a Redis Streams consumer group."""

    def __init__(self, bus: RedisStreamsBus, *, topic: str, group: str, consumer: str) -> None:
        super().__init__(topic=topic, group=group, consumer=consumer)
        self._bus = bus
        self._stream = bus.stream_key(topic)
        self._client = bus._client
        # What this consumer name was handed before and never acknowledged: read from "0" up.
        self._history: str | None = "0"
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self._idle_ms = max(1, int(bus.ack_timeout * 1000))
        self._closed = False

    async def fetch(self, *, max_records: int = 100, timeout: float = 1.0) -> list[Delivery]:
        if self._closed:
            raise BusError(f"the subscription of {self.group!r} to {self.topic!r} is closed")
        entries: list[tuple[Any, Any]] = []
        with self._bus._translated(f"fetch for the group {self.group!r}", self.topic):
            if self._history is not None:
                entries += await self._read(self._history, max_records, block=None)
                self._history = _text(entries[-1][0]) if len(entries) == max_records else None
            if len(entries) < max_records and time.monotonic() >= self._next_claim:
                entries += await self._reclaim(max_records - len(entries))
            if len(entries) < max_records:
                block = None if entries or timeout <= 0 else max(1, int(timeout * 1000))
                entries += await self._read(">", max_records - len(entries), block=block)
            return await self._deliveries(entries)

    async def _read(self, start: str, count: int, *, block: int | None) -> list[tuple[Any, Any]]:
        response: Any = await self._client.xreadgroup(
            self.group, self.consumer, {self._stream: start}, count=count, block=block
        )
        if not response:
            return []
        return list(response[0][1])

    async def _reclaim(self, count: int) -> list[tuple[Any, Any]]:
        response: Any = await self._client.xautoclaim(
            self._stream,
            self.group,
            self.consumer,
            min_idle_time=self._idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        self._claim_cursor = _text(response[0])
        if self._claim_cursor == "0-0":
            # Went round the whole pending list: look again when the next entry could be due.
            self._next_claim = time.monotonic() + min(self._bus.ack_timeout / 4, 1.0)
        return list(response[1])

    async def _deliveries(self, entries: list[tuple[Any, Any]]) -> list[Delivery]:
        deliveries: list[Delivery] = []
        unreadable: list[Any] = []
        for entry_id, fields in entries:
            if not fields:
                # Trimmed away while pending: nothing left to deliver.
                unreadable.append(entry_id)
                continue
            try:
                record = decode_record(fields[_RECORD])
                key = fields[_KEY].decode()
            except (MessageFormatError, KeyError, UnicodeDecodeError) as exc:
                self.rejected += 1
                unreadable.append(entry_id)
                _LOG.error(
                    "skipped entry %s of stream %s (group %s): %s",
                    _text(entry_id),
                    self._stream,
                    self.group,
                    exc,
                )
                continue
            deliveries.append(Delivery(self.topic, key, record, entry_id, self))
        if unreadable:
            await self._client.xack(self._stream, self.group, *unreadable)
        return deliveries

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        with self._bus._translated(f"acknowledge for the group {self.group!r}", self.topic):
            ids: list[Any] = [d.receipt for d in deliveries]
            await self._client.xack(self._stream, self.group, *ids)

    async def close(self) -> None:
        self._closed = True


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

"""The NATS JetStream bus (``nats://HOST:4222``), through nats-py.

- a topic is the stream ``NAMESPACE_TOPIC`` (file storage) on the subject ``NAMESPACE.TOPIC``;
  the key travels in the header ``Stockpred-Key``;
- every publish carries a fresh ``Nats-Msg-Id``, and a publish that times out is retried with the
  same id, so the stream's duplicate window (2 minutes) stores it once; ``publish_many``
  pipelines its publishes (``publish_async``) and waits for all their acknowledgements;
- a group is a durable pull consumer (explicit acks, ``ack_wait`` = the bus's ``ack_timeout``,
  delivery from the first message kept, or from the next one for a ``new_only`` group); every
  consumer of the group pulls from it, and the server redelivers what is not acknowledged
  within ``ack_wait``; ``delete_group`` deletes the consumer;
- ``ack`` sends one +ACK per delivery, then flushes: it returns once the server has them;
- lag is the consumer's ``num_pending`` (not yet delivered) plus ``num_ack_pending``.

``ack_wait`` is fixed when a group's consumer is first created on the server.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stockpred.bus.base import Delivery, Record, Subscription, check_name
from stockpred.bus.serializer import decode_record, encode_record
from stockpred.domain.errors import BusError, MessageFormatError
from stockpred.extras import import_optional

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

__all__ = ["NatsJetStreamBus"]

_LOG = logging.getLogger("stockpred.bus")
_KEY_HEADER = "Stockpred-Key"
_ID_HEADER = "Nats-Msg-Id"
_DUPLICATE_WINDOW = 120.0
_PUBLISH_ATTEMPTS = 3
_PIPELINE_CHUNK = 2000


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"NATS at {parts.hostname or 'localhost'}:{parts.port or 4222}"


class NatsJetStreamBus:
    """A :class:`~stockpred.bus.base.Bus` on NATS JetStream (nats-server 2.9 or newer)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "stockpred",
        ack_timeout: float = 30.0,
        max_ack_pending: int = 10_000,
    ) -> None:
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be > 0 seconds, got {ack_timeout}")
        self._nats = import_optional("nats", extra="nats", purpose="the NATS JetStream bus")
        self._api = import_optional("nats.js.api", extra="nats", purpose="the NATS JetStream bus")
        self._js_errors = import_optional(
            "nats.js.errors", extra="nats", purpose="the NATS JetStream bus"
        )
        self._errors: tuple[type[Exception], ...] = (
            import_optional("nats.errors", extra="nats", purpose="the NATS JetStream bus").Error,
            self._js_errors.Error,
            OSError,
        )
        self._url = url
        self._where = _where(url)
        self.namespace = check_name("namespace", namespace)
        self.ack_timeout = ack_timeout
        self.max_ack_pending = max_ack_pending
        self._client: Client | None = None
        self._jetstream: JetStreamContext | None = None
        self._connecting = asyncio.Lock()
        self._streams: set[str] = set()
        # Message ids: unique to this bus instance, then a counter (a fresh uuid per message
        # costs more than the rest of the publish).
        self._id_prefix = uuid.uuid4().hex
        self._ids = itertools.count()

    def _message_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    def stream_name(self, topic: str) -> str:
        """The JetStream stream of ``topic``."""
        return f"{self.namespace}_{check_name('topic', topic)}"

    def subject(self, topic: str) -> str:
        return f"{self.namespace}.{check_name('topic', topic)}"

    @contextmanager
    def _translated(self, action: str, topic: str) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            detail = str(exc) or type(exc).__name__
            raise BusError(
                f"{self._where} could not {action} on topic {topic!r}: {detail}"
            ) from exc

    async def _connect(self) -> JetStreamContext:
        async with self._connecting:
            if self._jetstream is None:
                client: Client = await self._nats.connect(
                    servers=[self._url], connect_timeout=5, max_reconnect_attempts=5
                )
                self._client = client
                self._jetstream = client.jetstream()
            return self._jetstream

    async def _stream(self, topic: str) -> tuple[JetStreamContext, str]:
        jetstream = await self._connect()
        name = self.stream_name(topic)
        if name not in self._streams:
            try:
                await jetstream.stream_info(name)
            except self._js_errors.NotFoundError:
                await jetstream.add_stream(
                    self._api.StreamConfig(
                        name=name,
                        subjects=[self.subject(topic)],
                        storage=self._api.StorageType.FILE,
                        duplicate_window=_DUPLICATE_WINDOW,
                    )
                )
            self._streams.add(name)
        return jetstream, name

    async def publish(self, topic: str, *, key: str, record: Record) -> None:
        with self._translated("publish", topic):
            jetstream, _ = await self._stream(topic)
            await self._publish_with_id(
                jetstream, self.subject(topic), key, encode_record(record), self._message_id()
            )

    async def _publish_with_id(
        self, jetstream: JetStreamContext, subject: str, key: str, payload: bytes, message_id: str
    ) -> None:
        headers = {_KEY_HEADER: key, _ID_HEADER: message_id}
        for attempt in range(1, _PUBLISH_ATTEMPTS + 1):
            try:
                await jetstream.publish(subject, payload, headers=headers, timeout=5.0)
                return
            except self._nats.errors.TimeoutError:
                # The acknowledgement may be what was lost: the same id makes a retry harmless.
                if attempt == _PUBLISH_ATTEMPTS:
                    raise

    async def publish_many(self, topic: str, items: Iterable[tuple[str, Record]]) -> None:
        with self._translated("publish", topic):
            jetstream, _ = await self._stream(topic)
            subject = self.subject(topic)
            batch: list[tuple[str, bytes, str]] = []
            for key, record in items:
                batch.append((key, encode_record(record), self._message_id()))
                if len(batch) == _PIPELINE_CHUNK:
                    await self._pipeline(jetstream, subject, batch)
                    batch = []
            if batch:
                await self._pipeline(jetstream, subject, batch)

    async def _pipeline(
        self, jetstream: JetStreamContext, subject: str, batch: list[tuple[str, bytes, str]]
    ) -> None:
        futures = [
            await jetstream.publish_async(
                subject, payload, headers={_KEY_HEADER: key, _ID_HEADER: message_id}
            )
            for key, payload, message_id in batch
        ]
        await asyncio.wait(futures, timeout=10.0)
        for (key, payload, message_id), future in zip(batch, futures, strict=True):
            if not future.done() or future.cancelled() or future.exception() is not None:
                # Not acknowledged: publish again under the same id (stored once either way).
                future.cancel()
                await self._publish_with_id(jetstream, subject, key, payload, message_id)

    async def subscribe(
        self, topic: str, *, group: str, consumer: str, new_only: bool = False
    ) -> NatsSubscription:
        check_name("group", group)
        policy = self._api.DeliverPolicy.NEW if new_only else self._api.DeliverPolicy.ALL
        with self._translated(f"create the group {group!r}", topic):
            jetstream, stream = await self._stream(topic)
            try:
                await jetstream.consumer_info(stream, group)
            except self._js_errors.NotFoundError:
                await jetstream.add_consumer(
                    stream,
                    self._api.ConsumerConfig(
                        durable_name=group,
                        ack_policy=self._api.AckPolicy.EXPLICIT,
                        deliver_policy=policy,
                        ack_wait=self.ack_timeout,
                        max_ack_pending=self.max_ack_pending,
                        filter_subject=self.subject(topic),
                    ),
                )
            pull = await jetstream.pull_subscribe_bind(durable=group, stream=stream)
        return NatsSubscription(self, pull, topic=topic, group=group, consumer=consumer)

    async def delete_group(self, topic: str, *, group: str) -> None:
        check_name("group", group)
        with self._translated(f"delete the group {group!r}", topic):
            jetstream = await self._connect()
            with suppress(self._js_errors.NotFoundError):
                await jetstream.delete_consumer(self.stream_name(topic), group)

    async def lag(self, topic: str, *, group: str) -> int:
        check_name("group", group)
        with self._translated(f"read the lag of {group!r}", topic):
            jetstream = await self._connect()
            stream = self.stream_name(topic)
            try:
                info = await jetstream.consumer_info(stream, group)
            except self._js_errors.NotFoundError:
                try:
                    stream_info = await jetstream.stream_info(stream)
                except self._js_errors.NotFoundError:
                    return 0
                return int(stream_info.state.messages)
            return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def _flush(self) -> None:
        if self._client is not None:
            await self._client.flush()

    async def close(self) -> None:
        client, self._client, self._jetstream = self._client, None, None
        self._streams.clear()
        if client is not None and not client.is_closed:
            with self._translated("close the connection", "*"):
                await client.close()


class NatsSubscription(Subscription):
    """A consumer pulling from a group's durable JetStream consumer."""

    def __init__(
        self,
        bus: NatsJetStreamBus,
        pull: JetStreamContext.PullSubscription,
        *,
        topic: str,
        group: str,
        consumer: str,
    ) -> None:
        super().__init__(topic=topic, group=group, consumer=consumer)
        self._bus = bus
        self._pull = pull
        self._closed = False

    async def fetch(self, *, max_records: int = 100, timeout: float = 1.0) -> list[Delivery]:
        if self._closed:
            raise BusError(f"the subscription of {self.group!r} to {self.topic!r} is closed")
        with self._bus._translated(f"fetch for the group {self.group!r}", self.topic):
            try:
                messages = await self._pull.fetch(batch=max_records, timeout=max(timeout, 0.01))
            except (self._bus._nats.errors.TimeoutError, TimeoutError):
                # nats-py raises its own TimeoutError, or asyncio's for a very short wait.
                return []
            deliveries: list[Delivery] = []
            for message in messages:
                delivery = await self._delivery(message)
                if delivery is not None:
                    deliveries.append(delivery)
            return deliveries

    async def _delivery(self, message: Msg) -> Delivery | None:
        try:
            record = decode_record(message.data)
            key = (message.headers or {})[_KEY_HEADER]
        except (MessageFormatError, KeyError) as exc:
            self.rejected += 1
            _LOG.error(
                "skipped message %s of stream %s (group %s): %s",
                message.metadata.sequence.stream,
                self._bus.stream_name(self.topic),
                self.group,
                exc,
            )
            await message.ack()
            return None
        return Delivery(self.topic, key, record, message, self)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        with self._bus._translated(f"acknowledge for the group {self.group!r}", self.topic):
            for delivery in deliveries:
                message: Any = delivery.receipt
                with suppress(self._bus._nats.errors.MsgAlreadyAckdError):
                    await message.ack()
            await self._bus._flush()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._bus._translated(f"leave the group {self.group!r}", self.topic):
            await self._pull.unsubscribe()

"""The Kafka bus (``kafka://HOST:9092[,HOST:9092...]``), through confluent-kafka (librdkafka).

- a topic is the Kafka topic ``NAMESPACE.TOPIC``, created on first use with ``partitions``
  partitions (URL ``?partitions=N``, default 3); a record's key picks its partition, so a key's
  records keep their order and stay on one consumer of a group;
- the producer is idempotent (``enable.idempotence``, ``acks=all``): its own retries never
  duplicate or reorder; ``publish`` returns once the broker acknowledged every record;
- a group is the consumer group ``NAMESPACE.TOPIC.GROUP`` (offsets never committed
  automatically; a new group starts at the earliest offset, or a ``new_only`` one at the high
  watermarks, committed before it joins); ``delete_group`` deletes the consumer group;
- ``ack`` commits, per partition, the offset after the longest run of acknowledged records
  (synchronously: it returns once the broker has it). What was fetched and not committed goes
  to another consumer when this one leaves or dies (the group rebalances), and to this one again
  when it is not acknowledged within ``ack_timeout`` (the partition is rewound to it);
- lag is, per partition, the high watermark minus the committed offset (or the first offset
  kept, when the group never committed).

librdkafka's calls block, so each subscription runs them on one thread of its own, and a
thread serves the producer's delivery reports.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from stockpred.bus.base import Delivery, Record, Subscription, check_name
from stockpred.bus.serializer import decode_record, encode_record
from stockpred.domain.errors import BusError, MessageFormatError
from stockpred.extras import import_optional

__all__ = ["KafkaBus"]

_LOG = logging.getLogger("stockpred.bus")
_PURPOSE = "the Kafka bus"
# librdkafka error names after which a commit is simply moot: the partition moved to another
# consumer, which will be handed the records again.
_MOOT_COMMIT = {
    "_NO_OFFSET",
    "ILLEGAL_GENERATION",
    "UNKNOWN_MEMBER_ID",
    "REBALANCE_IN_PROGRESS",
    "_ASSIGNMENT_LOST",
    "_STATE",
}

# The longest a fetch waits in one ``consume`` call: its latency once a record is there.
_CONSUME_STEP_S = 0.01


def _kafka() -> Any:
    return import_optional("confluent_kafka", extra="kafka", purpose=_PURPOSE)


class KafkaBus:
    """A :class:`~stockpred.bus.base.Bus` on Kafka (or any broker speaking its protocol)."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        namespace: str = "stockpred",
        ack_timeout: float = 30.0,
        partitions: int = 3,
        session_timeout: float = 10.0,
        config: dict[str, str] | None = None,
    ) -> None:
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be > 0 seconds, got {ack_timeout}")
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self._kafka = _kafka()
        self._admin_module = import_optional(
            "confluent_kafka.admin", extra="kafka", purpose=_PURPOSE
        )
        self.bootstrap_servers = bootstrap_servers
        self._where = f"Kafka at {bootstrap_servers}"
        self.namespace = check_name("namespace", namespace)
        self.ack_timeout = ack_timeout
        self.partitions = partitions
        self.session_timeout = session_timeout
        # librdkafka logs through Python's logging rather than to stderr.
        self._config: dict[str, object] = {
            "bootstrap.servers": bootstrap_servers,
            "logger": logging.getLogger("stockpred.bus.kafka"),
            **(config or {}),
        }
        self._producer: Any = None
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self._topics: set[str] = set()
        self._subscriptions: set[KafkaSubscription] = set()
        self._closed = False

    def topic_name(self, topic: str) -> str:
        """The Kafka topic of ``topic``."""
        return f"{self.namespace}.{check_name('topic', topic)}"

    def group_id(self, topic: str, group: str) -> str:
        """The Kafka consumer group of ``group`` on ``topic`` (groups are per topic, as in the
        other backends, so two topics' groups never rebalance each other)."""
        return f"{self.topic_name(topic)}.{check_name('group', group)}"

    @contextmanager
    def _translated(self, action: str, topic: str) -> Iterator[None]:
        try:
            yield
        except self._kafka.KafkaException as exc:
            raise BusError(f"{self._where} could not {action} on topic {topic!r}: {exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise BusError("the Kafka bus is closed; open a new one")

    async def _ensure_topic(self, topic: str) -> str:
        name = self.topic_name(topic)
        if name not in self._topics:
            await asyncio.to_thread(self._create_topic, name)
            self._topics.add(name)
        return name

    def _create_topic(self, name: str) -> None:
        admin = self._admin_module.AdminClient(self._config)
        new = self._admin_module.NewTopic(
            name, num_partitions=self.partitions, replication_factor=1
        )
        try:
            admin.create_topics([new], operation_timeout=10)[name].result(timeout=15)
        except self._kafka.KafkaException as exc:
            if exc.args[0].code() != self._kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def _producer_started(self) -> Any:
        if self._producer is None:
            self._producer = self._kafka.Producer(
                {
                    **self._config,
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "client.id": f"{self.namespace}-producer",
                }
            )
            self._poller = threading.Thread(
                target=self._serve_delivery_reports, name="stockpred-kafka-producer", daemon=True
            )
            self._poller.start()
        return self._producer

    def _serve_delivery_reports(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def publish(self, topic: str, *, key: str, record: Record) -> None:
        await self.publish_many(topic, [(key, record)])

    async def publish_many(self, topic: str, items: Iterable[tuple[str, Record]]) -> None:
        self._check_open()
        with self._translated("publish", topic):
            name = await self._ensure_topic(topic)
            producer = self._producer_started()
            batch = _Batch(asyncio.get_running_loop())
            for key, record in items:
                payload = encode_record(record)
                batch.expect()
                while True:
                    try:
                        producer.produce(
                            name, value=payload, key=key.encode(), on_delivery=batch.delivered
                        )
                        break
                    except BufferError:
                        # The local queue is full: let the delivery reports drain it.
                        await asyncio.sleep(0.005)
            error = await batch.wait()
            if error is not None:
                raise self._kafka.KafkaException(error)

    async def subscribe(
        self, topic: str, *, group: str, consumer: str, new_only: bool = False
    ) -> KafkaSubscription:
        self._check_open()
        with self._translated(f"join the group {group!r}", topic):
            name = await self._ensure_topic(topic)
            if new_only:
                await asyncio.to_thread(self._start_at_end, name, self.group_id(topic, group))
            subscription = KafkaSubscription(
                self, topic=topic, group=group, consumer=consumer, topic_name=name
            )
            await subscription._start()
        self._subscriptions.add(subscription)
        return subscription

    async def delete_group(self, topic: str, *, group: str) -> None:
        self._check_open()
        group_id = self.group_id(topic, group)
        with self._translated(f"delete the group {group!r}", topic):
            await asyncio.to_thread(self._delete_group, group_id)

    def _delete_group(self, group_id: str) -> None:
        admin = self._admin_module.AdminClient(self._config)
        try:
            admin.delete_consumer_groups([group_id], request_timeout=10)[group_id].result()
        except self._kafka.KafkaException as exc:
            if exc.args[0].code() != self._kafka.KafkaError.GROUP_ID_NOT_FOUND:
                raise

    def _start_at_end(self, name: str, group_id: str) -> None:
        """Commit the high watermarks as ``group_id``'s offsets, unless it has committed any."""
        reader = self._reader(group_id)
        try:
            partitions = self._partitions_of(reader, name)
            committed = reader.committed(partitions, timeout=10) if partitions else []
            if not committed or any(tp.offset >= 0 for tp in committed):
                return
            marks = self._watermarks(reader, name, {tp.partition: -1 for tp in committed})
            kafka = self._kafka
            ends = [kafka.TopicPartition(name, p, high) for p, (_, high) in marks.items()]
            reader.commit(offsets=ends, asynchronous=False)
        finally:
            reader.close()

    def _reader(self, group_id: str) -> Any:
        """A consumer of ``group_id`` that never joins it: for offsets and watermarks."""
        return self._kafka.Consumer(
            {
                **self._config,
                "group.id": group_id,
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
                "fetch.max.bytes": 1024,
                "message.max.bytes": 1000,
                "max.partition.fetch.bytes": 1024,
                "queued.max.messages.kbytes": 1,
            }
        )

    def _partitions_of(self, reader: Any, name: str) -> list[Any]:
        topics = reader.list_topics(name, timeout=10).topics
        if name not in topics or topics[name].error is not None:
            return []
        return [self._kafka.TopicPartition(name, p) for p in sorted(topics[name].partitions)]

    def _watermarks(
        self, reader: Any, name: str, committed: dict[int, int]
    ) -> dict[int, tuple[int, int]]:
        """Each partition's low and high watermark, as a fetch from ``committed`` (or from the
        beginning, for a negative offset) answers them. ListOffsets would be one request, but
        Tansu 0.6 answers it with the base offset of the last batch plus one, which undercounts
        whenever the producer batched."""
        kafka = self._kafka
        reader.assign(
            [
                kafka.TopicPartition(name, p, o if o >= 0 else kafka.OFFSET_BEGINNING)
                for p, o in committed.items()
            ]
        )
        deadline = time.monotonic() + 10.0
        marks: dict[int, tuple[int, int]] = {}
        while len(marks) < len(committed):
            if time.monotonic() > deadline:
                raise kafka.KafkaException(
                    kafka.KafkaError(kafka.KafkaError._TIMED_OUT, "no watermark in 10 s")
                )
            reader.consume(num_messages=1, timeout=0.05)
            for p in committed:
                low, high = reader.get_watermark_offsets(kafka.TopicPartition(name, p), cached=True)
                if high >= 0:
                    marks[p] = (low, high)
        reader.unassign()
        return marks

    async def lag(self, topic: str, *, group: str) -> int:
        self._check_open()
        with self._translated(f"read the lag of {group!r}", topic):
            return await asyncio.to_thread(
                self._read_lag, self.topic_name(topic), self.group_id(topic, group)
            )

    def _read_lag(self, name: str, group_id: str) -> int:
        reader = self._reader(group_id)
        try:
            partitions = self._partitions_of(reader, name)
            if not partitions:
                return 0
            committed = {tp.partition: tp.offset for tp in reader.committed(partitions, timeout=10)}
            marks = self._watermarks(reader, name, committed)
            return sum(
                high - (committed[p] if committed[p] >= 0 else low)
                for p, (low, high) in marks.items()
            )
        finally:
            reader.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.close()
        producer = self._producer
        if producer is not None:
            await asyncio.to_thread(producer.flush, 10)
            self._stop.set()
            if self._poller is not None:
                await asyncio.to_thread(self._poller.join)


class _Batch:
    """Delivery reports of one ``publish_many``: settled, on the event loop, by the last one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._future: asyncio.Future[None] = loop.create_future()
        self._expected = 0
        self._reported = 0
        self._sealed = False
        self._lock = threading.Lock()
        self.error: object = None

    def expect(self) -> None:
        with self._lock:
            self._expected += 1

    def delivered(self, error: object, message: object) -> None:
        """librdkafka's delivery report (on the producer's poll thread)."""
        with self._lock:
            if error is not None and self.error is None:
                self.error = error
            self._reported += 1
            done = self._sealed and self._reported == self._expected
        if done:
            self._loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> object:
        with self._lock:
            self._sealed = True
            done = self._reported == self._expected
        if done:
            self._settle()
        await self._future
        return self.error


@dataclass(eq=False)
class _Partition:
    """What one consumer knows of one assigned partition: the offset it will commit next, the
    offsets acknowledged beyond it, and the offsets handed out with when they fall due again."""

    next_commit: int
    acked: set[int] = field(default_factory=set)
    in_flight: dict[int, float] = field(default_factory=dict)


class KafkaSubscription(Subscription):
    """A member of a Kafka consumer group; librdkafka's calls run on its own thread."""

    def __init__(
        self, bus: KafkaBus, *, topic: str, group: str, consumer: str, topic_name: str
    ) -> None:
        super().__init__(topic=topic, group=group, consumer=consumer)
        self._bus = bus
        self._kafka = bus._kafka
        self._name = topic_name
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stockpred-kafka")
        self._consumer: Any = None
        # Touched only on the subscription's thread (fetch, ack and the rebalance callbacks).
        self._partitions: dict[int, _Partition] = {}
        self._closed = False

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    async def _start(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        bus = self._bus
        session_ms = int(bus.session_timeout * 1000)
        self._consumer = self._kafka.Consumer(
            {
                **bus._config,
                "group.id": bus.group_id(self.topic, self.group),
                "client.id": self.consumer,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": session_ms,
                "heartbeat.interval.ms": max(100, session_ms // 5),
            }
        )
        self._consumer.subscribe([self._name], on_revoke=self._revoked, on_lost=self._revoked)

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            self._partitions.pop(tp.partition, None)

    async def fetch(self, *, max_records: int = 100, timeout: float = 1.0) -> list[Delivery]:
        if self._closed:
            raise BusError(f"the subscription of {self.group!r} to {self.topic!r} is closed")
        with self._bus._translated(f"fetch for the group {self.group!r}", self.topic):
            raw: list[tuple[int, int, bytes, bytes]] = await self._run(
                self._consume, max_records, max(timeout, 0.0)
            )
        deliveries: list[Delivery] = []
        unreadable: list[tuple[int, int]] = []
        for partition, offset, key, value in raw:
            try:
                record = decode_record(value)
                text_key = key.decode()
            except (MessageFormatError, UnicodeDecodeError) as exc:
                self.rejected += 1
                _LOG.error(
                    "skipped offset %d of %s[%d] (group %s): %s",
                    offset,
                    self._name,
                    partition,
                    self.group,
                    exc,
                )
                unreadable.append((partition, offset))
                continue
            deliveries.append(Delivery(self.topic, text_key, record, (partition, offset), self))
        if unreadable:
            with self._bus._translated(f"skip unreadable records of {self.group!r}", self.topic):
                await self._run(self._commit, unreadable)
        return deliveries

    def _consume(self, max_records: int, timeout: float) -> list[tuple[int, int, bytes, bytes]]:
        self._rewind_overdue()
        now = time.monotonic()
        due = now + self._bus.ack_timeout
        taken: list[tuple[int, int, bytes, bytes]] = []
        for message in self._arrived(max_records, timeout):
            error = message.error()
            if error is not None:
                if error.code() == self._kafka.KafkaError._PARTITION_EOF:
                    continue
                raise self._kafka.KafkaException(error)
            partition, offset = message.partition(), message.offset()
            state = self._partitions.get(partition)
            if state is None:
                state = self._partitions[partition] = _Partition(next_commit=offset)
            if offset < state.next_commit or offset in state.acked:
                continue  # acknowledged already: a rewind fetched it again
            state.in_flight[offset] = due
            taken.append((partition, offset, message.key() or b"", message.value() or b""))
        return taken

    def _arrived(self, max_records: int, timeout: float) -> list[Any]:
        """Up to ``max_records`` messages soon after the first is there: ``consume`` waits its
        whole timeout for ``max_records``, so it is asked in short waits until one brings any
        (or ``timeout`` has passed)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            wait = min(_CONSUME_STEP_S, max(left, 0.0))
            messages: list[Any] = self._consumer.consume(num_messages=max_records, timeout=wait)
            if messages or left <= wait:
                return messages

    def _rewind_overdue(self) -> None:
        """Seek each partition back to its oldest delivery overdue for acknowledgement: it and
        the records after it are fetched again (the acknowledged ones are skipped)."""
        now = time.monotonic()
        for partition, state in self._partitions.items():
            overdue = [o for o, due in state.in_flight.items() if due <= now]
            if not overdue:
                continue
            start = min(overdue)
            try:
                self._consumer.seek(self._kafka.TopicPartition(self._name, partition, start))
            except self._kafka.KafkaException as exc:
                # Not fetching this partition yet (a rebalance is under way): try next time.
                _LOG.debug("could not rewind %s[%d]: %s", self._name, partition, exc)
                continue
            state.in_flight = {o: d for o, d in state.in_flight.items() if o < start}

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        receipts = [d.receipt for d in deliveries if isinstance(d.receipt, tuple)]
        if not receipts:
            return
        with self._bus._translated(f"acknowledge for the group {self.group!r}", self.topic):
            await self._run(self._commit, receipts)

    def _commit(self, receipts: list[tuple[int, int]]) -> None:
        touched: dict[int, _Partition] = {}
        for partition, offset in receipts:
            state = self._partitions.get(partition)
            if state is None or offset < state.next_commit:
                continue  # revoked since, or acknowledged already
            state.in_flight.pop(offset, None)
            state.acked.add(offset)
            touched[partition] = state
        offsets = []
        for partition, state in touched.items():
            start = state.next_commit
            while state.next_commit in state.acked:
                state.acked.remove(state.next_commit)
                state.next_commit += 1
            if state.next_commit != start:
                offsets.append(self._kafka.TopicPartition(self._name, partition, state.next_commit))
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except self._kafka.KafkaException as exc:
            if exc.args[0].name() not in _MOOT_COMMIT:
                raise
            _LOG.warning("commit of %s (group %s) was moot: %s", self._name, self.group, exc)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._bus._subscriptions.discard(self)
        try:
            with self._bus._translated(f"leave the group {self.group!r}", self.topic):
                if self._consumer is not None:
                    await self._run(self._consumer.close)
        finally:
            self._thread.shutdown(wait=False)

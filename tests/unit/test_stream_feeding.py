"""A feed onto the bus: bars keyed by ticker, and a FeedHealth each time the holes change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from stockpred.bus.inprocess import InProcessBus
from stockpred.bus.topics import BARS
from stockpred.domain.records import Bar, FeedHealth
from stockpred.sources.feeds.base import FeedBatch
from stockpred.stream.feeding import publish_feed

T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)


def _bar(ticker: str, minute: int) -> Bar:
    ts = T0 + timedelta(minutes=minute)
    return Bar(ticker, ts, 10.0, 10.5, 9.5, 10.2, None, 100.0, "live", ts, interval="1m")


class _Feed:
    name = "live"

    def __init__(self, batches: list[FeedBatch]) -> None:
        self._batches = batches

    async def batches(self) -> AsyncIterator[FeedBatch]:
        for batch in self._batches:
            yield batch

    async def close(self) -> None:
        return None


def test_the_holes_are_announced_when_they_change_and_the_bars_follow() -> None:
    batches = [
        FeedBatch((_bar("AAPL", 1), _bar("MSFT", 1))),
        FeedBatch((), frozenset({"MSFT"})),
        FeedBatch((_bar("AAPL", 2),), frozenset({"MSFT"})),
        FeedBatch((_bar("MSFT", 2), _bar("AAPL", 3))),
    ]

    async def run() -> list[object]:
        bus = InProcessBus()
        reader = await bus.subscribe(BARS, group="t", consumer="t")
        count = await publish_feed(_Feed(batches), bus, clock=lambda: T0)
        assert count == 5
        return [d.record for d in await reader.fetch(max_records=100, timeout=0.1)]

    records = asyncio.run(run())

    health = [r for r in records if isinstance(r, FeedHealth)]
    assert [h.degraded for h in health] == [("MSFT",), ()]  # changes only
    assert all(h.feed == "live" for h in health)
    assert [(r.ticker, r.ts.minute) for r in records if isinstance(r, Bar)] == [
        ("AAPL", 1), ("MSFT", 1), ("AAPL", 2), ("MSFT", 2), ("AAPL", 3),
    ]  # fmt: skip

"""A feed onto the bus: each batch's bars on ``bars`` keyed by ticker, and a ``FeedHealth``
whenever the set of tickers with a hole changes (keyed by the feed's name)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from stockpred.bus.base import Bus
from stockpred.bus.topics import BARS
from stockpred.domain.records import FeedHealth
from stockpred.sources.feeds.base import Feed

__all__ = ["publish_feed"]


async def publish_feed(feed: Feed, bus: Bus, *, clock: Callable[[], datetime]) -> int:
    """Publish ``feed`` until it ends; returns the bars published."""
    published = 0
    holes: frozenset[str] = frozenset()
    async for batch in feed.batches():
        if batch.degraded != holes:
            holes = batch.degraded
            health = FeedHealth(feed=feed.name, degraded=tuple(sorted(holes)), at=clock())
            await bus.publish(BARS, key=feed.name, record=health)
        if batch.bars:
            await bus.publish_many(BARS, [(bar.ticker, bar) for bar in batch.bars])
            published += len(batch.bars)
    return published

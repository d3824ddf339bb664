"""Replay: a stored history played back as market time, the demo's and the tests' live source.

Bars are handed out one close at a time (every ticker's bar of that close in one batch), in
time order. With ``speed`` N, the wait between two closes is their market-time distance divided
by N (86,400: a day a second); without it, as fast as the consumer takes them. Daily bars come
from the store (``bars_of`` a ``read_bars`` frame) or from a file of intraday bars.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from itertools import groupby

from stockpred.domain.errors import InvalidInputError
from stockpred.domain.records import Bar
from stockpred.sources.feeds.base import FeedBatch

__all__ = ["ReplayFeed"]


class ReplayFeed:
    """A :class:`~stockpred.sources.feeds.base.Feed` over ``bars`` (any order)."""

    name = "replay"

    def __init__(
        self,
        bars: Iterable[Bar],
        *,
        speed: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if speed is not None and speed <= 0:
            raise InvalidInputError(f"--speed must be above 0 (times market time), got {speed}")
        self._bars = sorted(bars, key=lambda b: (b.ts, b.ticker))
        self._speed = speed
        self._sleep = sleep
        self._closed = False
        self.sessions = len({b.ts for b in self._bars})

    async def batches(self) -> AsyncIterator[FeedBatch]:
        previous = None
        for ts, group in groupby(self._bars, key=lambda b: b.ts):
            if self._closed:
                return
            if previous is not None and self._speed is not None:
                await self._sleep((ts - previous).total_seconds() / self._speed)
            previous = ts
            yield FeedBatch(tuple(group))

    async def close(self) -> None:
        self._closed = True

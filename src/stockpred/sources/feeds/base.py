"""The ``Feed`` protocol: bars as they happen, in batches, from a replayed history, a
provider's websocket or polling. A runner (``stream/feeds.py``) publishes each batch to the
``bars`` topic of the bus, keyed by ticker.

A feed yields its bars in time order per ticker. A live feed that loses its connection says so:
the tickers whose history has a hole are ``degraded`` in every batch until the hole has been
filled (from the provider's REST history), and the bars that fill it come before the live ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from stockpred.domain.records import Bar

__all__ = ["Feed", "FeedBatch", "FeedClosedError", "pause", "until_closed"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """Bars that arrived together, and the tickers whose history still has a hole."""

    bars: tuple[Bar, ...]
    degraded: frozenset[str] = field(default_factory=frozenset)


class Feed(Protocol):
    """A source of bars as they happen."""

    # Short and stable: it names the feed in logs, metrics and each bar's ``source``.
    name: str

    def batches(self) -> AsyncIterator[FeedBatch]:
        """Bars as they arrive, until the feed ends (a replay) or is closed (a live feed)."""
        ...

    async def close(self) -> None:
        """Stop: ``batches`` ends soon after; idempotent."""
        ...


class FeedClosedError(Exception):
    """The feed's ``close()`` was called while it waited."""


async def until_closed(awaitable: Awaitable[_T], closed: asyncio.Event) -> _T:
    """``awaitable``'s result, or :class:`FeedClosedError` as soon as ``closed`` is set (the
    awaitable is then cancelled)."""
    task = asyncio.ensure_future(awaitable)
    closing = asyncio.ensure_future(closed.wait())
    try:
        await asyncio.wait({task, closing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closing.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        raise FeedClosedError
    return task.result()


async def pause(
    sleep: Callable[[float], Awaitable[None]], seconds: float, closed: asyncio.Event
) -> bool:
    """Wait ``seconds`` with ``sleep``; False if ``closed`` was set meanwhile."""
    try:
        await until_closed(sleep(seconds), closed)
    except FeedClosedError:
        return False
    return True

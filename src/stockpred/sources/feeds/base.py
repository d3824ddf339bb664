"""The ``Feed`` protocol: bars as they happen, in batches, from a replayed history, a
provider's websocket or polling. A runner (``stream/feeds.py``) publishes each batch to the
``bars`` topic of the bus, keyed by ticker.

A feed yields its bars in time order per ticker. A live feed that loses its connection says so:
the tickers whose history has a hole are ``degraded`` in every batch until the hole has been
filled (from the provider's REST history), and the bars that fill it come before the live ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from stockpred.domain.records import Bar

__all__ = ["Feed", "FeedBatch"]


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

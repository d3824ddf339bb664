"""Replay: a stored history played back as market time, the demo's and the tests' live source.

Bars are handed out one close at a time (every ticker's bar of that close in one batch), in
time order. With ``speed`` N, the wait between two closes is their market-time distance divided
by N (86,400: a day a second); without it, as fast as the consumer takes them. Intraday bars
within a day have a pace of their own (``intraday_speed``, by default ``speed``: e.g. a session
watchable in a minute while the daily history flies by); the wait across a night is the daily
pace's. Daily bars
come from the store (``bars_of`` a ``read_bars`` frame); intraday ones from a file or split
from daily bars (``sources/feeds/intraday.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import date
from itertools import groupby

import pandas as pd

from stockpred.domain.errors import InvalidInputError
from stockpred.domain.records import Bar
from stockpred.sources.feeds.base import FeedBatch

__all__ = ["DEFAULT_SPEED", "INTRADAY_SPEED", "ReplayFeed", "replay_window"]

# A replay's default pace: five sessions' market time a second, about a year a minute.
DEFAULT_SPEED = 5 * 86_400.0
# Intraday bars' default pace: a regular session (6.5 hours) in a minute.
INTRADAY_SPEED = 6.5 * 3600 / 60


class ReplayFeed:
    """A :class:`~stockpred.sources.feeds.base.Feed` over ``bars`` (any order)."""

    name = "replay"

    def __init__(
        self,
        bars: Iterable[Bar],
        *,
        speed: float | None = None,
        intraday_speed: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        for option, value in (("--speed", speed), ("--intraday-speed", intraday_speed)):
            if value is not None and value <= 0:
                raise InvalidInputError(
                    f"{option} must be above 0 (times market time), got {value}"
                )
        self._bars = sorted(bars, key=lambda b: (b.ts, b.ticker))
        self._speed = speed
        self._intraday_speed = intraday_speed or speed
        self._sleep = sleep
        self._closed = False
        # The sessions replayed: the daily closes, and the (UTC) days of intraday bars.
        self.sessions = len(
            {b.ts for b in self._bars if b.interval == "1d"}
            | {b.ts.date() for b in self._bars if b.interval != "1d"}
        )

    async def batches(self) -> AsyncIterator[FeedBatch]:
        previous = None
        for ts, group in groupby(self._bars, key=lambda b: b.ts):
            if self._closed:
                return
            batch = tuple(group)
            if previous is not None:
                within = ts.date() == previous.date() and batch[0].interval != "1d"
                speed = self._intraday_speed if within else self._speed
                if speed is not None:
                    await self._sleep((ts - previous).total_seconds() / speed)
            previous = ts
            yield FeedBatch(batch)

    async def close(self) -> None:
        self._closed = True


def replay_window(
    bars: pd.DataFrame,
    select: Callable[[Iterable[str]], list[str]],
    *,
    start: date | None = None,
    end: date | None = None,
) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The close the state is warmed up to, and the bars to replay after it: by default the
    last year of the modelled tickers' history (the indices may run on past it)."""
    stocks = bars[bars["ticker"].isin(select(bars["ticker"].unique()))]
    if stocks.empty:
        raise InvalidInputError("no modelled tickers among the stored bars")
    last = pd.Timestamp(stocks["ts"].max())
    until = last if end is None else pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    since = pd.Timestamp(start, tz="UTC") if start is not None else until - pd.DateOffset(years=1)
    if since >= until:
        raise InvalidInputError(f"--from {since.date()} is not before --to {until.date()}")
    ts = pd.DatetimeIndex(bars["ts"])
    replayed = bars[(ts >= since) & (ts <= until)]
    return since - pd.Timedelta(microseconds=1), replayed

"""Minute bars built from trades, for a feed whose provider's own bars come too late or too
coarse. Pure: trades and the time are passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from stockpred.domain.records import Bar

__all__ = ["MinuteBarBuilder", "floor_minute"]

_MINUTE = timedelta(minutes=1)


def floor_minute(ts: datetime) -> datetime:
    """The start of the minute ``ts`` falls in."""
    return ts.replace(second=0, microsecond=0)


@dataclass
class _Minute:
    start: datetime
    first_ts: datetime
    last_ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


class MinuteBarBuilder:
    """One open minute per ticker. A minute closes when a trade of a later minute arrives or
    when :meth:`due` is called past its end plus ``grace``; a trade for a closed minute is
    late, counted in ``late_trades`` and dropped. Open and close are the earliest and latest
    trades by their own timestamps, so trades reported out of order do not move them."""

    def __init__(self, *, source: str, grace: timedelta) -> None:
        self._source = source
        self._grace = grace
        self._open: dict[str, _Minute] = {}
        self._closed_until: dict[str, datetime] = {}
        self.late_trades = 0

    def add(
        self, ticker: str, *, price: float, size: float, ts: datetime, ingested_at: datetime
    ) -> Bar | None:
        """One trade (price, size in shares, ``ts`` UTC); the bar of the minute it closed, if
        any."""
        start = floor_minute(ts)
        if start < self._closed_until.get(ticker, start):
            self.late_trades += 1
            return None
        current = self._open.get(ticker)
        done = None
        if current is not None and start > current.start:
            done = self._close(ticker, ingested_at)
            current = None
        if current is None:
            self._open[ticker] = _Minute(start, ts, ts, price, price, price, price, size)
            return done
        current.high = max(current.high, price)
        current.low = min(current.low, price)
        current.volume += size
        if ts < current.first_ts:
            current.first_ts, current.open = ts, price
        if ts >= current.last_ts:
            current.last_ts, current.close = ts, price
        return done

    def due(self, now: datetime) -> list[Bar]:
        """The bars of minutes that ended more than ``grace`` before ``now``."""
        tickers = [t for t, m in self._open.items() if m.start + _MINUTE + self._grace <= now]
        return [self._close(ticker, now) for ticker in sorted(tickers)]

    def begin(self, tickers: list[str], now: datetime) -> datetime:
        """A (re)subscription at ``now``: the minute under way missed its earlier trades, so
        its trades are dropped as late and it must come from elsewhere (a history fetch).
        Returns the end of that minute; the first bar built closes a minute later."""
        self._open.clear()
        first = floor_minute(now) + _MINUTE
        for ticker in tickers:
            self._closed_until[ticker] = max(self._closed_until.get(ticker, first), first)
        return first

    def _close(self, ticker: str, ingested_at: datetime) -> Bar:
        minute = self._open.pop(ticker)
        end = minute.start + _MINUTE
        self._closed_until[ticker] = end
        return Bar(
            ticker=ticker,
            ts=end,
            open=minute.open,
            high=minute.high,
            low=minute.low,
            close=minute.close,
            adj_close=None,
            volume=minute.volume,
            source=self._source,
            ingested_at=ingested_at,
            interval="1m",
        )

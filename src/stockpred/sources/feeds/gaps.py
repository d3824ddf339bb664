"""The continuity of a live feed's bars, ticker by ticker: what was yielded, what has a hole.

Pure bookkeeping (no clock, no I/O): the feed tells it when the connection was lost and
regained, hands it live bars and the bars fetched to fill the hole, and gets back the bars to
yield, in time order per ticker, each ``ts`` at most once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from stockpred.domain.records import Bar

__all__ = ["GapTracker"]


class GapTracker:
    """Per ticker: the close of the last bar yielded, and whether its history has a hole.

    While a ticker is degraded its live bars are held back, so that the bars filling the hole
    come first; :meth:`fill` merges both (a live bar wins over a fetched one of the same
    ``ts``) and ends the degradation.
    """

    def __init__(self, tickers: Iterable[str]) -> None:
        self._tickers = frozenset(tickers)
        self._since: datetime | None = None
        self._last: dict[str, datetime] = {}
        self._degraded: set[str] = set()
        self._held: dict[str, dict[datetime, Bar]] = {}

    @property
    def degraded(self) -> frozenset[str]:
        """The tickers whose history has a hole not yet filled."""
        return frozenset(self._degraded)

    def start(self, now: datetime) -> None:
        """The feed is live from ``now`` on (its first subscription); later calls do nothing."""
        if self._since is None:
            self._since = now

    def interrupt(self) -> None:
        """The connection was lost: every ticker has a hole from its last bar on."""
        if self._since is not None:
            self._degraded = set(self._tickers)

    def gap_start(self, ticker: str) -> datetime:
        """Bars of ``ticker`` closing after this are missing (its last bar's close, or the start
        of the feed if it had none)."""
        if self._since is None:
            raise RuntimeError("GapTracker.start() was never called")
        return self._last.get(ticker, self._since)

    def accept(self, bars: Iterable[Bar]) -> list[Bar]:
        """Live bars: those to yield now; a degraded ticker's are held for :meth:`fill`, and a
        bar no later than one already yielded is a duplicate, dropped."""
        out: list[Bar] = []
        for bar in bars:
            if bar.ticker in self._degraded:
                self._held.setdefault(bar.ticker, {})[bar.ts] = bar
            elif self._is_new(bar):
                self._last[bar.ticker] = bar.ts
                out.append(bar)
        return out

    def fill(self, fetched: Iterable[Bar], *, until: datetime) -> list[Bar]:
        """The hole is filled with ``fetched`` (bars closing up to ``until``; later ones are
        incomplete and left to the live stream): returns them merged with the held live bars,
        in time order per ticker, and no ticker is degraded any more."""
        merged: dict[str, dict[datetime, Bar]] = {}
        for bar in fetched:
            if bar.ticker in self._degraded and bar.ts <= until:
                merged.setdefault(bar.ticker, {})[bar.ts] = bar
        for ticker, held in self._held.items():
            merged.setdefault(ticker, {}).update(held)
        out: list[Bar] = []
        for ticker in sorted(merged):
            for ts in sorted(merged[ticker]):
                bar = merged[ticker][ts]
                if self._is_new(bar):
                    self._last[ticker] = ts
                    out.append(bar)
        self._degraded.clear()
        self._held.clear()
        return out

    def _is_new(self, bar: Bar) -> bool:
        last = self._last.get(bar.ticker)
        return last is None or bar.ts > last

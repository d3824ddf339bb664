"""``PollingFeed``: intraday bars of providers without push, asked for on an interval.

Two providers, through their existing adapters (``sources/providers/``), so a poll goes through
the same HTTP client as every other call: the response cache, the provider's quota (on disk,
shared by every process of the account), retries, the circuit breaker and the translation of
the provider's refusals into stockpred errors.

* **yahoo** (the default): ``GET /v8/finance/chart/{symbol}?interval=1m&range=1d
  &includePrePost=false``; ``chart.result[0].timestamp`` holds each bar's start (Unix seconds)
  and ``indicators.quote[0]`` its open, high, low, close and volume, the bar still forming
  last. No key; no published quota, so the adapter's polite 2 requests a second is the quota.
  One answer is the whole session so far: a poll that failed is made good by the next one.
* **alphavantage**: ``/query?function=TIME_SERIES_INTRADAY&interval=1min&outputsize=compact
  &extended_hours=false``, the ``"Time Series (1min)"`` object keyed by each bar's start in New
  York time; the latest 100 bars. It needs ``STOCKPRED_ALPHA_VANTAGE_API_KEY``, and its free
  quota (5 a minute, 25 a day) allows one ticker a poll every hour at best: the feed says so
  and stretches its interval; a paid plan's quota is configured as for every adapter.

Yahoo is the default because it is the one a poll every minute fits; Alpha Vantage is there
for an account that pays for its quota.

Each ticker is asked for every ``poll_seconds``, one request at a time and never faster than
the quota allows (its short window and its daily one, spread over the tickers); a cached
answer (another caller asked within 20 s) spends none. A poll yields the ticker's bars newer
than the last one it yielded, in time order; the bar still forming (its close, plus the
policy's ``trade_grace_s`` for the provider's late updates, not yet passed) waits for a later
poll. The first poll of a ticker yields its latest session so far, from its first bar, so that
the stream's session-so-far starts at the open. A poll that fails (HTTP errors after the
client's retries, a malformed body, a spent quota) is logged and tried again with the policy's
capped exponential backoff; the ticker is ``degraded`` in every batch until a poll of it
succeeds, and that poll asks for the provider's larger window (Yahoo's last five sessions,
Alpha Vantage's 30 days) so that no bar is lost. A refused key, a plan without the endpoint or
an unknown symbol end the feed with the adapter's error, which says what to fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import pandas as pd

from stockpred.domain.errors import (
    InvalidInputError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
    UnknownSymbolError,
)
from stockpred.domain.records import Bar
from stockpred.sources.feeds.base import FeedBatch, FeedClosedError, pause, until_closed
from stockpred.sources.feeds.policy import StreamPolicy
from stockpred.sources.providers.alphavantage import AlphaVantageProvider
from stockpred.sources.providers.base import RateLimit
from stockpred.sources.providers.yahoo import YahooProvider

__all__ = [
    "BAR_INTERVALS",
    "AlphaVantageIntraday",
    "IntradaySource",
    "PollingFeed",
    "YahooIntraday",
    "poll_period",
]

_LOG = logging.getLogger("stockpred.sources.feeds.polling")
# Our names of the bar lengths both providers serve, and their lengths.
BAR_INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
}
_YAHOO_INTERVALS = {"1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "60m"}
_ALPHA_INTERVALS = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "60min"}
_T = TypeVar("_T")


class IntradaySource(Protocol):
    """One provider's recent intraday bars of one symbol. Blocking: the feed calls it in a
    thread."""

    name: str

    @property
    def quota(self) -> RateLimit:
        """The quota its requests count against."""
        ...

    def recent_bars(self, symbol: str, *, catch_up: bool) -> pd.DataFrame:
        """Columns ticker, ts (each bar's start, UTC), open, high, low, close, volume; oldest
        first, the bar still forming included. ``catch_up``: the provider's larger window (a
        poll failed, bars may be missing from further back)."""
        ...

    def close(self) -> None: ...


def _check_interval(interval: str) -> None:
    if interval not in BAR_INTERVALS:
        raise InvalidInputError(
            f"bar interval {interval!r} is not one a polled provider serves; use one of "
            f"{', '.join(BAR_INTERVALS)}"
        )


class YahooIntraday:
    """Yahoo's chart endpoint at ``interval``: the latest session (``range=1d``), or the latest
    five (``5d``) to catch up."""

    name = "yahoo"

    def __init__(self, provider: YahooProvider, *, interval: str) -> None:
        _check_interval(interval)
        self._provider = provider
        self._interval = _YAHOO_INTERVALS[interval]

    @property
    def quota(self) -> RateLimit:
        return self._provider.http.rate_limit

    def recent_bars(self, symbol: str, *, catch_up: bool) -> pd.DataFrame:
        window = "5d" if catch_up else "1d"
        return self._provider.fetch_intraday(symbol, interval=self._interval, window=window)

    def close(self) -> None:
        self._provider.close()


class AlphaVantageIntraday:
    """Alpha Vantage's TIME_SERIES_INTRADAY at ``interval``, regular hours only: the latest 100
    bars (``compact``), or the last 30 days (``full``) to catch up."""

    name = "alphavantage"

    def __init__(self, provider: AlphaVantageProvider, *, interval: str) -> None:
        _check_interval(interval)
        self._provider = provider
        self._interval = _ALPHA_INTERVALS[interval]

    @property
    def quota(self) -> RateLimit:
        return self._provider.http.rate_limit

    def recent_bars(self, symbol: str, *, catch_up: bool) -> pd.DataFrame:
        return self._provider.fetch_intraday(
            symbol,
            interval=self._interval,
            outputsize="full" if catch_up else "compact",
            extended_hours=False,
        )

    def close(self) -> None:
        self._provider.close()


def poll_period(quota: RateLimit, *, tickers: int, poll_seconds: float) -> tuple[float, float]:
    """(seconds between two requests, seconds between two polls of one ticker): the quota's
    pace, its short window and its daily one, and ``poll_seconds`` stretched to what it
    allows over ``tickers`` tickers."""
    spacing = quota.seconds / quota.requests
    if quota.per_day:
        spacing = max(spacing, 86400.0 / quota.per_day)
    return spacing, max(poll_seconds, spacing * tickers)


@dataclass(slots=True)
class _Ticker:
    """What the feed knows of one ticker between polls."""

    due: datetime
    last: datetime | None = None  # the close of the last bar yielded
    failures: int = 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PollingFeed:
    """Intraday bars of ``symbols`` from ``source``, one poll of a ticker every ``poll_seconds``
    (stretched to the source's quota).

    ``interval``: the bars' length, our notation (``1m``, ``5m``, ``15m``, ``30m``, ``1h``),
    the one ``source`` was made for. ``policy``: the backoff after a failed poll
    (``backoff_*``), the consecutive failures of one ticker before the feed gives up
    (``max_attempts``, None: never) and the grace after a bar's close before it counts as
    complete (``trade_grace_s``). ``clock`` tells the time (whether a bar is complete, when a
    poll is due, each bar's ``ingested_at``) and ``sleep`` waits; both are injected in tests.
    """

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        source: IntradaySource,
        interval: str,
        poll_seconds: float = 60.0,
        policy: StreamPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._symbols = tuple(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
        if not self._symbols:
            raise InvalidInputError(f"a {source.name} polling feed needs at least one symbol")
        _check_interval(interval)
        if poll_seconds <= 0:
            raise InvalidInputError(f"poll_seconds must be positive, got {poll_seconds!r}")
        self.name = source.name
        self._source = source
        self._interval = interval
        self._length = BAR_INTERVALS[interval]
        self._policy = policy or StreamPolicy()
        # Without one, the module's clock, looked up at each call.
        self._clock = clock if clock is not None else lambda: _utc_now()  # noqa: PLW0108
        self._sleep = sleep
        self._spacing, self._period = poll_period(
            source.quota, tickers=len(self._symbols), poll_seconds=poll_seconds
        )
        if self._period > poll_seconds:
            _LOG.warning(
                "%s's quota (%s) allows a poll of %d ticker(s) every %.4g s at best; polling "
                "that often instead of every %g s",
                source.name,
                source.quota.describe(),
                len(self._symbols),
                self._period,
                poll_seconds,
            )
        self._closed = asyncio.Event()

    @property
    def period_s(self) -> float:
        """Seconds between two polls of one ticker (``poll_seconds``, or the quota's pace)."""
        return self._period

    async def close(self) -> None:
        """Stop: ``batches`` ends soon after; idempotent."""
        self._closed.set()

    async def batches(self) -> AsyncIterator[FeedBatch]:
        """After each poll, the ticker's new bars and the tickers degraded; a poll that brings
        nothing new and changes no degradation yields nothing."""
        start = self._clock()
        tickers = {symbol: _Ticker(due=start) for symbol in self._symbols}
        degraded: set[str] = set()
        last_request: datetime | None = None
        try:
            while not self._closed.is_set():
                # The ticker due first; ties go in the order the symbols were given.
                symbol = min(self._symbols, key=lambda s: tickers[s].due)
                state = tickers[symbol]
                when = state.due
                if last_request is not None:
                    when = max(when, last_request + timedelta(seconds=self._spacing))
                wait = (when - self._clock()).total_seconds()
                if wait > 0 and not await self._pause(wait):
                    return
                last_request = self._clock()
                try:
                    frame = await self._until_closed(
                        asyncio.to_thread(
                            self._source.recent_bars, symbol, catch_up=state.failures > 0
                        )
                    )
                    now = self._clock()
                    bars = self._new_bars(frame, symbol=symbol, after=state.last, now=now)
                except FeedClosedError:
                    return
                except (ProviderAuthError, UnknownSymbolError):
                    raise  # what to fix is in the message: polling again will not mend it
                except ProviderError as exc:
                    state.failures += 1
                    self._check_attempts(symbol, exc, failures=state.failures)
                    backoff = self._policy.backoff(state.failures)
                    state.due = self._clock() + timedelta(seconds=backoff)
                    _LOG.warning(
                        "%s poll of %s failed (%d in a row), degraded; again in %.1f s: %s",
                        self.name,
                        symbol,
                        state.failures,
                        backoff,
                        exc,
                    )
                    if symbol not in degraded:
                        degraded.add(symbol)
                        yield FeedBatch((), frozenset(degraded))
                    continue
                state.failures = 0
                state.due = last_request + timedelta(seconds=self._period)
                if bars:
                    state.last = bars[-1].ts
                recovered = symbol in degraded
                degraded.discard(symbol)
                if bars or recovered:
                    yield FeedBatch(tuple(bars), frozenset(degraded))
        finally:
            self._source.close()

    def _new_bars(
        self, frame: pd.DataFrame, *, symbol: str, after: datetime | None, now: datetime
    ) -> list[Bar]:
        """The complete bars of ``frame`` closing after ``after``, oldest first; with no
        ``after`` (the first poll), those of the latest day in the frame."""
        if frame.empty:
            return []
        starts = pd.to_datetime(frame["ts"], utc=True)
        closes = starts + self._length
        keep = closes + pd.Timedelta(seconds=self._policy.trade_grace_s) <= pd.Timestamp(now)
        if after is not None:
            keep &= closes > pd.Timestamp(after)
        else:
            keep &= starts.dt.date == starts.max().date()
        out: list[Bar] = []
        for index in frame.index[keep.to_numpy()]:
            row = frame.loc[index]
            out.append(
                Bar(
                    ticker=symbol,
                    ts=closes[index].to_pydatetime(),
                    open=float(row["open"]),
                    high=float(row["high"]),
                    low=float(row["low"]),
                    close=float(row["close"]),
                    adj_close=None,
                    volume=float(row["volume"]),
                    source=self.name,
                    ingested_at=now,
                    interval=self._interval,
                )
            )
        out.sort(key=lambda bar: bar.ts)
        return out

    def _check_attempts(self, symbol: str, exc: ProviderError, *, failures: int) -> None:
        limit = self._policy.max_attempts
        if limit is not None and failures >= limit:
            raise ProviderUnavailableError(
                f"{self.name}: {failures} polls of {symbol} in a row failed (last: {exc}); "
                f"check the network and the provider's status, then start the feed again",
                provider=self.name,
                symbol=symbol,
            ) from exc

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False if the feed was closed meanwhile."""
        return await pause(self._sleep, seconds, self._closed)

    async def _until_closed(self, awaitable: Awaitable[_T]) -> _T:
        """``awaitable``'s result, or ``FeedClosedError`` as soon as the feed is closed."""
        return await until_closed(awaitable, self._closed)

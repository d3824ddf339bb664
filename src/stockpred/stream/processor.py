"""The stream processor: session bars from the bus into feature rows and forecasts.

It consumes the ``bars`` topic as a member of a consumer group. Bars of one close are gathered
until the session is complete: every ticker of the last complete session has shown a bar of
that close or later (the bus keeps each key's order, not the order across keys), or the
session has waited ``idle_close`` seconds with a later one begun, or the topic has been quiet
that long (a replay's end). Then, in order:

1. the feature state takes the session (``stream/features.py``) and gives its rows;
2. the rows and then the bars are written (``StreamSink``: upserts on the natural keys);
3. the champions forecast from them (``Forecaster``); the forecasts are stored, published on
   ``predictions``, and the rows announced on ``features`` (``FeaturesWritten``), so every API
   process relays the forecasts and updates the forecasts it answers with;
4. the session's deliveries are acknowledged.

Crash safety (DESIGN.md, invariant 6): the state is rebuilt at start from the stored bars (the
snapshot), and the bus's acknowledgements are the offsets. A ``kill -9`` before 2 ends leaves the
session out of the store: it is delivered again and taken as new. After 2, it is delivered again
with every bar already in the state: its stored rows are forecast and published again, so
nothing is lost, and the sinks' keys (ticker, as_of, horizon, model version) keep it once.
A ``ModelPromoted`` on ``models`` reloads the champions without a restart.

Intraday bars (``interval`` other than ``1d``) fold into each ticker's session so far, on the
exchange's calendar (``SessionClock``; a bar outside the session, extended hours, is skipped).
After each batch of them the state is *peeked* at with every session so far ("if the session
closed now", leaving the state as it is) and the champions' forecasts are published with
``provisional=True``, never stored. A ``FeedHealth`` on ``bars`` names the tickers whose feed
has a hole (reconnecting, failed polls): their forecasts are marked ``degraded`` until it is
filled, and a session does not commit at its close while one of its tickers has one. The
session is committed once every expected ticker is done with it: its own bar of the close has
come, or its own bar of a later session (the bus keeps one key's order only, so another
ticker's later bar says nothing of it). A ticker that owes its bars ``idle_close`` seconds
after market time (the newest intraday bar) reached the close, or after a later session began,
does not hold the others back. Then the sessions so far become daily bars stamped at the
close, published on ``bars`` like any feed's, and taken from there as above (so a session a
provider also sends as a daily bar counts once, the first). Sessions are taken in order: a
later session's daily bars wait while an earlier one is open or on its way back.

The intraday bars are kept in the store (``intraday_bars``) at most ``checkpoint_every``
seconds apart, and an intraday delivery is acknowledged only once its bar is kept: after a
``kill -9`` the restarted processor folds its sessions so far again from the bars kept, and
the deliveries after them come again. A session so far takes each bar once, in any order
(redeliveries and new bars interleave after a restart), so the committed session is the same
as without the crash.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import pandas as pd

from stockpred.bus.base import Bus, Delivery, Subscription
from stockpred.bus.topics import BARS, FEATURES, MODELS, PREDICTIONS
from stockpred.domain.errors import BusError, StockpredError
from stockpred.domain.records import Bar, FeaturesWritten, FeedHealth, ModelPromoted, Prediction
from stockpred.stream.features import SessionFeatures
from stockpred.stream.metrics import StreamMetrics
from stockpred.stream.sessions import SessionClock

__all__ = ["Forecaster", "StreamProcessor", "StreamSink", "StreamStats"]

_LOG = logging.getLogger("stockpred.stream")

# How long a committed session's late intraday bars are recognised (and skipped).
_COMMITTED_KEPT = pd.Timedelta(days=7)
# How far after the state's newest close a restart looks for sessions still open.
_OPEN_KEPT = timedelta(days=7)


class _Fold:
    """A ticker's session so far: its intraday bars folded into one, each once, in any order
    (after a restart, redelivered bars and new ones interleave). Plain fields, not a new
    ``Bar`` per bar: this runs for every intraday bar."""

    __slots__ = (
        "_first",
        "_high",
        "_low",
        "_made",
        "_open",
        "_volume",
        "close",
        "last",
        "seen",
    )

    def __init__(self, bar: Bar) -> None:
        self._first, self.last = bar.ts, bar
        self._open, self._high, self._low = bar.open, bar.high, bar.low
        self.close, self._volume = bar.close, bar.volume
        self.seen = {bar.ts}
        self._made: Bar | None = bar

    @property
    def ts(self) -> datetime:
        return self.last.ts

    def add(self, bar: Bar) -> bool:
        """Fold ``bar`` in; False if it was folded already."""
        if bar.ts in self.seen:
            return False
        self.seen.add(bar.ts)
        if bar.ts > self.last.ts:
            self.last, self.close = bar, bar.close
        if bar.ts < self._first:
            self._first, self._open = bar.ts, bar.open
        self._high = max(self._high, bar.high)
        self._low = min(self._low, bar.low)
        self._volume += bar.volume
        self._made = None
        return True

    @property
    def bar(self) -> Bar:
        """The session so far as one bar (its last bar's time, source and adjustment)."""
        if self._made is None:
            self._made = dataclasses.replace(
                self.last,
                open=self._open,
                high=self._high,
                low=self._low,
                volume=self._volume,
            )
        return self._made


class StreamSink(Protocol):
    """Where a session's output is kept; every write an upsert on its natural key."""

    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        """The session's feature rows and its bars (those the state was warmed from)."""
        ...

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None: ...

    def write_intraday_bars(self, bars: Sequence[Bar]) -> None:
        """Intraday bars as received (an upsert on ticker, interval and ts)."""
        ...

    def read_intraday_bars(self, *, start: datetime, end: datetime) -> list[Bar]:
        """The intraday bars kept with ``start < ts <= end``."""
        ...

    def read_rows(
        self, feature_set: str, tickers: Sequence[str], ts: datetime, *, depth: int
    ) -> pd.DataFrame:
        """The last ``depth`` stored rows up to ``ts`` of each of ``tickers``."""
        ...


class Forecaster(Protocol):
    """The champions of the horizons served, forecasting from the newest feature rows."""

    @property
    def horizons(self) -> list[int]:
        """The horizons a champion serves (empty before any is trained)."""
        ...

    @property
    def context_rows(self) -> int:
        """Rows per ticker a forecast reads (a sequence model's length; 1 otherwise)."""
        ...

    def forecast(
        self, rows: pd.DataFrame, *, last_close: Mapping[str, float], now: datetime
    ) -> list[Prediction]:
        """Forecasts of every champion for each ticker's last row of ``rows`` (ticker, ts,
        features; sorted by ticker and ts)."""
        ...

    def reload(self) -> bool:
        """Follow the champion aliases; True when one moved."""
        ...


@dataclass
class StreamStats:
    """What the processor did since it started."""

    bars: int = 0
    sessions: int = 0
    rows: int = 0
    forecasts: int = 0
    skipped: int = 0
    # Sessions delivered again whose bars had all been taken (after a crash): republished.
    redelivered: int = 0
    # Provisional forecasts published from sessions still open.
    nowcasts: int = 0
    # Intraday bars folded into a session so far, and sessions committed from them.
    intraday: int = 0
    committed: int = 0
    checkpoints: int = 0
    # Champion moves followed (``ModelPromoted`` on ``models``) without a restart.
    reloads: int = 0
    # Seconds from a batch of intraday bars fetched to its nowcasts published.
    nowcast_latencies: list[float] = field(default_factory=list)
    # Seconds from each session's close (the processor knowing it complete) to its rows
    # written and its forecasts published.
    latencies: list[float] = field(default_factory=list)


class StreamProcessor:
    """Feature rows and forecasts from the ``bars`` topic; see the module docstring."""

    def __init__(
        self,
        state: SessionFeatures,
        bus: Bus,
        forecaster: Forecaster,
        *,
        sink: StreamSink,
        clock: Callable[[], datetime],
        group: str = "stream",
        consumer: str = "stream-1",
        idle_close: float = 2.0,
        new_only: bool = False,
        sessions: SessionClock | None = None,
        checkpoint_every: float = 1.0,
        fetch_size: int = 5_000,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.state = state
        # Counts and timings for /metrics (``stream/metrics.py``); None: not reported.
        self._metrics = metrics
        self._bus = bus
        self._forecaster = forecaster
        self._sink = sink
        self._clock = clock
        self.group = group
        self.consumer = consumer
        self.idle_close = idle_close
        # Bars fetched at most at once: a backlog (a replay, a restart) is taken in batches of
        # this many, one nowcast each.
        self.fetch_size = fetch_size
        # A group created now starts after the newest bar kept (a demo's fresh pass).
        self.new_only = new_only
        self.stats = StreamStats()
        # Set once ``run`` has joined its groups: what is published from then on reaches it
        # (a ``new_only`` group skips what came before).
        self.ready = asyncio.Event()
        self._pending: dict[datetime, list[tuple[Bar, Delivery]]] = {}
        # Each ticker's newest bar close seen on the bus, and the tickers of the last session
        # closed (those a session waits for; at first, those of the last warmed session, taken
        # when ``run`` starts: the state is warmed after the processor is made).
        self._seen: dict[str, datetime] = {}
        self._expected: set[str] = set()
        self._first_seen: dict[datetime, float] = {}
        self._raw_close: dict[str, float] = {}
        # Intraday: each session's so far per ticker (by the session's close), the bars
        # folded since the last checkpoint and their deliveries.
        self._sessions = sessions or SessionClock()
        self.checkpoint_every = checkpoint_every
        self._so_far: dict[datetime, dict[str, _Fold]] = {}
        self._unwritten: list[Bar] = []
        self._held: list[Delivery] = []
        self._checkpointed = time.monotonic()
        # Each ticker's newest session with intraday bars (an older one's bar is late).
        self._session_of: dict[str, datetime] = {}
        # When market time reached each open session's close; the sessions committed lately.
        self._reached: dict[datetime, float] = {}
        # When a later session (of any ticker) was first seen while each open one waited.
        self._later: dict[datetime, float] = {}
        self._committed: set[datetime] = set()
        # Sessions committed whose daily bars have not come back from the bus yet.
        self._committing: set[datetime] = set()
        # Each feed's tickers with a hole in their history (``FeedHealth`` on ``bars``).
        self._degraded: dict[str, frozenset[str]] = {}

    @property
    def pending(self) -> int:
        """Sessions gathered and not closed yet."""
        return len(self._pending)

    @property
    def forecasts_anything(self) -> bool:
        """Whether a champion is loaded (without one, only feature rows are made)."""
        return bool(self._forecaster.horizons)

    async def run(self, stop: asyncio.Event) -> StreamStats:
        """Consume until ``stop`` is set; the sessions still open then are closed first."""
        bars = await self._bus.subscribe(
            BARS, group=self.group, consumer=self.consumer, new_only=self.new_only
        )
        models = await self._bus.subscribe(
            MODELS, group=f"{self.consumer}-models", consumer=self.consumer, new_only=True
        )
        if not self._expected:
            self._expected = set(self.state.last_session_tickers())
        await asyncio.to_thread(self._restore)
        self.ready.set()
        quiet_since = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    deliveries = await bars.fetch(max_records=self.fetch_size, timeout=0.2)
                except BusError as exc:
                    # What was fetched and not acknowledged comes again: nothing is lost.
                    _LOG.warning("reading bars failed (retrying in 1 s): %s", exc)
                    await asyncio.sleep(1.0)
                    continue
                if deliveries:
                    quiet_since = time.monotonic()
                    await self.take(deliveries)
                elif self._pending and time.monotonic() - quiet_since >= self.idle_close:
                    await self.close_sessions(everything=True)
                elif self._pending:
                    await self.close_sessions()  # one may have become overdue
                if not deliveries and (self._so_far or self._held):
                    await self._commit_due()
                    await self._checkpoint()
                try:
                    await self._follow_models(models)
                except BusError as exc:
                    _LOG.warning("reading champion moves failed: %s", exc)
            await self.close_sessions(everything=True)
            await self._checkpoint(force=True)
        finally:
            await bars.close()
            await models.close()
            await self._bus.delete_group(MODELS, group=f"{self.consumer}-models")
        return self.stats

    async def forget(self) -> None:
        """Leave nothing of this processor's group behind (a demo pass done with): its
        position on ``bars``. Call once ``run`` has returned."""
        await self._bus.delete_group(BARS, group=self.group)

    async def _follow_models(self, models: Subscription) -> None:
        deliveries = await models.fetch(max_records=100, timeout=0)
        if not deliveries:
            return
        if any(isinstance(d.record, ModelPromoted) for d in deliveries):
            moved = await asyncio.to_thread(self._forecaster.reload)
            if moved:
                self.stats.reloads += 1
                _LOG.info("a champion moved; forecasting with it from the next session")
        await models.ack(deliveries)

    async def take(self, deliveries: Sequence[Delivery]) -> None:
        """Gather session bars by close, and close the sessions that are complete."""
        arrived = time.monotonic()
        taken_before = self.stats.bars + self.stats.intraday
        done: list[Delivery] = []
        intraday = False
        for delivery in deliveries:
            record = delivery.record
            if isinstance(record, FeedHealth):
                self._degraded[record.feed] = frozenset(record.degraded)
                done.append(delivery)
                continue
            if not isinstance(record, Bar):
                self.stats.skipped += 1
                done.append(delivery)
                continue
            if record.interval != "1d":
                if self._fold(record):
                    intraday = True
                    self._held.append(delivery)  # acknowledged once a checkpoint holds it
                else:
                    done.append(delivery)
                continue
            self._pending.setdefault(record.ts, []).append((record, delivery))
            self._first_seen.setdefault(record.ts, time.monotonic())
            seen = self._seen.get(record.ticker)
            if seen is None or record.ts > seen:
                self._seen[record.ticker] = record.ts
            self.stats.bars += 1
        if self._metrics is not None:
            self._metrics.bars_taken(self.stats.bars + self.stats.intraday - taken_before)
        if done:
            await self._ack(done)
        await self.close_sessions()
        if intraday:
            fetched = time.monotonic()
            nowcasts = self.stats.nowcasts
            await self._nowcast()
            self.stats.nowcast_latencies.append(time.monotonic() - fetched)
            if self._metrics is not None and self.stats.nowcasts > nowcasts:
                self._metrics.bar_to_forecast("provisional", time.monotonic() - arrived)
        if self._so_far:
            await self._commit_due()
        await self._checkpoint()

    def _fold(self, bar: Bar, *, restoring: bool = False) -> bool:
        """Fold an intraday bar into its ticker's session so far; False if it adds nothing
        (a bar folded already, of a session committed already, or outside every session)."""
        bounds = self._sessions.session_of(bar.ts)
        if bounds is None:
            self.stats.skipped += 1
            return False
        close = bounds[1]
        if close in self._committed:
            return False
        last = self.state.last_ts(bar.ticker)
        if last is not None and bar.ts <= last:
            return False
        newest = self._session_of.get(bar.ticker)
        if newest is not None and newest > close:
            return False  # a bar of a session this ticker has left
        session = self._so_far.setdefault(close, {})
        fold = session.get(bar.ticker)
        if fold is None:
            session[bar.ticker] = _Fold(bar)
        elif not fold.add(bar):
            return False
        self._session_of[bar.ticker] = close
        if not restoring:
            self._unwritten.append(bar)
            self.stats.intraday += 1
        if bar.ts >= close:
            self._reached.setdefault(close, time.monotonic())
        return True

    async def _commit_due(self) -> None:
        """Commit the open sessions that are due (see the module docstring), oldest first."""
        closes = sorted(self._so_far)
        now = time.monotonic()
        holes = frozenset().union(*self._degraded.values())
        for position, close in enumerate(closes):
            # The bus keeps one key's order only: a later bar of one ticker says nothing of
            # another's (a Kafka topic's partitions interleave freely). So a ticker is done
            # with the session once its own bar of the close, or its own later bar, has come.
            waiting = [
                t
                for t in self._expected | set(self._so_far[close])
                if (self.state.models(t) or t in self._so_far[close])
                and not self._done_with(t, close)
            ]
            later = position < len(closes) - 1 or any(ts > close for ts in self._pending)
            if later:
                self._later.setdefault(close, now)
            # Market time has reached the close, or a later session has begun, and a ticker
            # still owes its bars that long after: it does not hold the others back.
            since = min(self._reached.get(close, now), self._later.get(close, now))
            overdue = now - since >= self.idle_close
            # A ticker whose feed has a hole would be committed without the bars that fill it:
            # the session waits for them (or, past the wait, for the next session).
            if holes & set(self._so_far[close]) and not (later and overdue):
                break
            if waiting and not overdue:
                break
            await self._commit(close)
            # Its daily bars are on the bus: what was folded into it may be acknowledged.
            await self._checkpoint(force=True)

    def _done_with(self, ticker: str, close: datetime) -> bool:
        """Whether ``ticker``'s bars of the session of ``close`` have all come: its bar of the
        close, or a bar of a later session (intraday or daily), or the session's daily bar."""
        if self._at_close(ticker, close):
            return True
        newest = self._session_of.get(ticker)
        seen = self._seen.get(ticker)
        return (newest is not None and newest > close) or (seen is not None and seen >= close)

    def _at_close(self, ticker: str, close: datetime) -> bool:
        fold = self._so_far.get(close, {}).get(ticker)
        return fold is not None and fold.ts >= close

    async def _commit(self, close: datetime) -> None:
        """The sessions so far of ``close`` as daily bars on ``bars``: the session's commit."""
        session = self._so_far.get(close, {})
        bars = [
            dataclasses.replace(session[t].bar, ts=close, interval="1d")
            for t in sorted(session)
            if (last := self.state.last_ts(t)) is None or last < close
        ]
        if bars:
            try:
                await self._bus.publish_many(BARS, [(b.ticker, b) for b in bars])
            except BusError as exc:
                _LOG.warning("could not commit the session of %s (retrying): %s", close, exc)
                return
        _LOG.debug("session %s committed from intraday bars: %d tickers", close, len(bars))
        self._so_far.pop(close, None)
        self._reached.pop(close, None)
        self._later.pop(close, None)
        if bars:
            self._committing.add(close)
        self._committed = {c for c in self._committed if c >= close - _COMMITTED_KEPT} | {close}
        self.stats.committed += 1

    async def _checkpoint(self, *, force: bool = False) -> None:
        """Keep the intraday bars folded since the last checkpoint, then acknowledge their
        deliveries: a restart folds its sessions so far again from what was kept."""
        if not self._held:
            return
        if not force and time.monotonic() - self._checkpointed < self.checkpoint_every:
            return
        if self._unwritten:
            try:
                await asyncio.to_thread(self._sink.write_intraday_bars, self._unwritten)
            except StockpredError as exc:
                # Unacknowledged, the deliveries come again: nothing is lost.
                _LOG.warning("could not keep %d intraday bars: %s", len(self._unwritten), exc)
                return
        held, self._held, self._unwritten = self._held, [], []
        self._checkpointed = time.monotonic()
        self.stats.checkpoints += 1
        await self._ack(held)

    def _restore(self) -> None:
        """The sessions so far after the state's newest close (within ``_OPEN_KEPT``), folded
        again from the intraday bars kept; redeliveries of them then add nothing."""
        newest = [self.state.last_ts(t) for t in self.state.last_session_tickers()[:1]]
        if not newest or newest[0] is None:
            return
        start = newest[0].to_pydatetime()
        kept = self._sink.read_intraday_bars(start=start, end=start + _OPEN_KEPT)
        index = self.state.feature_set.context.index_ticker
        for bar in sorted(kept, key=lambda b: b.ts):
            if self.state.models(bar.ticker) or bar.ticker == index:
                self._fold(bar, restoring=True)

    async def _nowcast(self) -> None:
        """Provisional forecasts from every ticker's session so far, published (not stored)."""
        if not self._so_far:
            return
        partials = [fold.bar for fold in self._so_far[max(self._so_far)].values()]
        rows = await asyncio.to_thread(self.state.peek, partials)
        if rows.empty:
            return
        last_close = {**self._raw_close, **{b.ticker: float(b.close) for b in partials}}
        try:
            forecasts = await asyncio.to_thread(
                self._forecaster.forecast,
                rows.reset_index(drop=True),
                last_close=last_close,
                now=self._clock(),
            )
        except StockpredError as exc:
            _LOG.warning("no nowcasts: %s", exc)
            return
        provisional = [dataclasses.replace(f, provisional=True) for f in self._marked(forecasts)]
        if provisional:
            try:
                await self._bus.publish_many(PREDICTIONS, [(f.ticker, f) for f in provisional])
            except BusError as exc:
                _LOG.warning("could not publish %d nowcasts: %s", len(provisional), exc)
                return
        self.stats.nowcasts += len(provisional)
        if self._metrics is not None and provisional:
            self._metrics.forecasts_published("provisional", len(provisional))

    def _complete(self, ts: datetime) -> bool:
        """Whether the session of ``ts`` has every bar it will get. The bus keeps one key's
        order only (a Kafka topic's partitions interleave freely), so a bar of a later close
        says nothing of the other tickers: the session is complete once every ticker of the
        last complete session has shown a bar of ``ts`` or later."""
        return all(
            (seen := self._seen.get(ticker)) is not None and seen >= ts for ticker in self._expected
        )

    async def close_sessions(self, *, everything: bool = False) -> None:
        """Close the sessions gathered, oldest first, while they are complete. A session still
        waiting ``idle_close`` seconds after its first bar, with a later one begun, is closed
        as it is (a ticker that stopped trading does not hold the others back); with
        ``everything`` all are (the topic has been quiet that long, or the processor stops)."""
        closes = sorted(self._pending)
        now = time.monotonic()
        for position, ts in enumerate(closes):
            if any(c < ts for c in (*self._so_far, *self._committing)):
                # An earlier session is still open, or committed and on its way back on the
                # bus: sessions are taken in order, so this one waits (the bars stay pending).
                break
            complete = self._complete(ts)
            overdue = position < len(closes) - 1 and now - self._first_seen[ts] >= self.idle_close
            if not (complete or overdue or everything):
                break
            taken = self._pending.pop(ts)
            self._first_seen.pop(ts, None)
            if complete:
                self._expected = {bar.ticker for bar, _ in taken}
            await self._close(ts, taken)
            self._committing = {c for c in self._committing if c > ts}
            for bar, _ in taken:
                for close in [c for c in self._so_far if c <= ts]:
                    self._so_far[close].pop(bar.ticker, None)  # committed by the close
                    if not self._so_far[close]:
                        del self._so_far[close]

    async def _close(self, ts: datetime, taken: list[tuple[Bar, Delivery]]) -> None:
        started = time.monotonic()
        _LOG.debug("closing the session of %s: %d bars", ts, len(taken))
        # A bar redelivered while its first delivery still waits counts once (the first).
        bars = list({bar.ticker: bar for bar, _ in reversed(taken)}.values())
        key = self.state.feature_set.key
        for bar in bars:
            self._raw_close[bar.ticker] = float(bar.close)
        # The arithmetic and the writes run off the event loop: an API process that hosts the
        # stream keeps answering while a session closes.
        if self.state.untaken(bars):
            rows = await asyncio.to_thread(self.state.close_session, bars)
            if not rows.empty:
                await asyncio.to_thread(self._sink.write_session, key, bars, rows)
        else:
            # Every bar was taken before: a redelivery after a crash that came before the
            # acknowledgement. The rows are stored; forecast and publish them again (the sinks
            # are idempotent), so that nothing the crash interrupted is lost.
            tickers = sorted({b.ticker for b in bars if self.state.models(b.ticker)})
            rows = await asyncio.to_thread(self._stored_rows, tickers, ts, 1)
            self.stats.redelivered += 1
        if not rows.empty:
            forecasts = self._marked(await asyncio.to_thread(self._forecast, rows, ts))
            await asyncio.to_thread(self._sink.write_forecasts, forecasts)
            try:
                if forecasts:
                    await self._bus.publish_many(PREDICTIONS, [(f.ticker, f) for f in forecasts])
                await self._bus.publish(
                    FEATURES,
                    key=key,
                    record=FeaturesWritten(
                        feature_set=key,
                        tickers=tuple(rows["ticker"]),
                        last_ts=pd.Timestamp(rows["ts"].max()).to_pydatetime(),
                        written_at=self._clock(),
                    ),
                )
            except BusError as exc:
                _LOG.warning("could not publish the session of %s: %s", ts.isoformat(), exc)
            self.stats.rows += len(rows)
            self.stats.forecasts += len(forecasts)
            if self._metrics is not None and forecasts:
                self._metrics.forecasts_published("committed", len(forecasts))
                self._metrics.bar_to_forecast("committed", time.monotonic() - started)
        self.stats.sessions += 1
        self.stats.latencies.append(time.monotonic() - started)
        await self._ack([delivery for _, delivery in taken])
        if self._metrics is not None:
            self._metrics.session_committed()

    def _marked(self, forecasts: list[Prediction]) -> list[Prediction]:
        """``forecasts`` with those of tickers a feed has a hole for marked ``degraded``."""
        holes = frozenset().union(*self._degraded.values())
        if not holes:
            return forecasts
        return [
            dataclasses.replace(f, degraded=True) if f.ticker in holes else f for f in forecasts
        ]

    def _stored_rows(self, tickers: list[str], ts: datetime, depth: int) -> pd.DataFrame:
        rows = self._sink.read_rows(self.state.feature_set.key, tickers, ts, depth=depth)
        if not rows.empty:
            rows = rows[pd.DatetimeIndex(rows["ts"]) <= pd.Timestamp(ts)]
        return rows.reset_index(drop=True)

    def _forecast(self, rows: pd.DataFrame, ts: datetime) -> list[Prediction]:
        depth = max(1, self._forecaster.context_rows)
        # A sequence model reads each ticker's last rows: the store has them (those just
        # written included), also after a restart.
        design = (
            rows.reset_index(drop=True)
            if depth == 1
            else self._stored_rows(sorted(rows["ticker"]), ts, depth)
        )
        try:
            return self._forecaster.forecast(design, last_close=self._raw_close, now=self._clock())
        except StockpredError as exc:
            _LOG.warning("no forecasts for the session: %s", exc)
            return []

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        by_subscription: dict[int, list[Delivery]] = {}
        for delivery in deliveries:
            by_subscription.setdefault(id(delivery.subscription), []).append(delivery)
        for batch in by_subscription.values():
            await batch[0].subscription.ack(batch)

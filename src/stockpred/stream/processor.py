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

Intraday bars (``interval`` other than ``1d``) fold into each ticker's session so far; after
each batch of them the state is *peeked* at with every session so far ("if the session closed
now", leaving the state as it is) and the champions' forecasts are published with
``provisional=True``, never stored. The session's daily bars commit it. Still to come: closing a
session from its intraday bars at the exchange's close when no daily bar comes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd

from stockpred.bus.base import Bus, Delivery, Subscription
from stockpred.bus.topics import BARS, FEATURES, MODELS, PREDICTIONS
from stockpred.domain.errors import BusError, StockpredError
from stockpred.domain.records import Bar, FeaturesWritten, ModelPromoted, Prediction
from stockpred.stream.features import SessionFeatures

__all__ = ["Forecaster", "StreamProcessor", "StreamSink", "StreamStats"]

_LOG = logging.getLogger("stockpred.stream")


class StreamSink(Protocol):
    """Where a session's output is kept; every write an upsert on its natural key."""

    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        """The session's feature rows and its bars (those the state was warmed from)."""
        ...

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None: ...

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
    ) -> None:
        self.state = state
        self._bus = bus
        self._forecaster = forecaster
        self._sink = sink
        self._clock = clock
        self.group = group
        self.consumer = consumer
        self.idle_close = idle_close
        # A group created now starts after the newest bar kept (a demo's fresh pass).
        self.new_only = new_only
        self.stats = StreamStats()
        # Set once ``run`` has joined its groups: what is published from then on reaches it
        # (a ``new_only`` group skips what came before).
        self.ready = asyncio.Event()
        self._pending: dict[datetime, list[tuple[Bar, Delivery]]] = {}
        # Each ticker's newest bar close seen on the bus, and the tickers of the last session
        # closed (those a session waits for; at first, those of the last warmed session).
        self._seen: dict[str, datetime] = {}
        self._expected: set[str] = set(state.last_session_tickers())
        self._first_seen: dict[datetime, float] = {}
        # Each ticker's session so far, folded from its intraday bars (for the nowcasts).
        self._so_far: dict[str, Bar] = {}
        self._raw_close: dict[str, float] = {}

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
        self.ready.set()
        quiet_since = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    deliveries = await bars.fetch(max_records=500, timeout=0.2)
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
                try:
                    await self._follow_models(models)
                except BusError as exc:
                    _LOG.warning("reading champion moves failed: %s", exc)
            await self.close_sessions(everything=True)
        finally:
            await bars.close()
            await models.close()
            await self._bus.delete_group(MODELS, group=f"{self.consumer}-models")
        return self.stats

    async def _follow_models(self, models: Subscription) -> None:
        deliveries = await models.fetch(max_records=100, timeout=0)
        if not deliveries:
            return
        if any(isinstance(d.record, ModelPromoted) for d in deliveries):
            moved = await asyncio.to_thread(self._forecaster.reload)
            if moved:
                _LOG.info("a champion moved; forecasting with it from the next session")
        await models.ack(deliveries)

    async def take(self, deliveries: Sequence[Delivery]) -> None:
        """Gather session bars by close, and close the sessions that are complete."""
        done: list[Delivery] = []
        intraday = False
        for delivery in deliveries:
            record = delivery.record
            if not isinstance(record, Bar):
                self.stats.skipped += 1
                done.append(delivery)
                continue
            if record.interval != "1d":
                # A nowcast is not durable: its bar is acknowledged at once, the session's
                # close commits what counts.
                intraday = self._so_far_with(record) or intraday
                done.append(delivery)
                continue
            self._pending.setdefault(record.ts, []).append((record, delivery))
            self._first_seen.setdefault(record.ts, time.monotonic())
            seen = self._seen.get(record.ticker)
            if seen is None or record.ts > seen:
                self._seen[record.ticker] = record.ts
            self.stats.bars += 1
        if done:
            await self._ack(done)
        await self.close_sessions()
        if intraday:
            await self._nowcast()

    def _so_far_with(self, bar: Bar) -> bool:
        """Fold an intraday bar into its ticker's session so far; False if its session is
        committed already."""
        last = self.state.last_ts(bar.ticker)
        if last is not None and pd.Timestamp(bar.ts) <= last:
            return False
        day = pd.Timestamp(bar.ts).tz_convert("UTC").date()
        so_far = self._so_far.get(bar.ticker)
        if so_far is None or pd.Timestamp(so_far.ts).tz_convert("UTC").date() != day:
            self._so_far[bar.ticker] = dataclasses.replace(bar, interval="1d", adj_close=None)
            return True
        if bar.ts <= so_far.ts:
            return False  # a redelivery
        self._so_far[bar.ticker] = dataclasses.replace(
            so_far,
            ts=bar.ts,
            high=max(so_far.high, bar.high),
            low=min(so_far.low, bar.low),
            close=bar.close,
            volume=so_far.volume + bar.volume,
            ingested_at=bar.ingested_at,
        )
        return True

    async def _nowcast(self) -> None:
        """Provisional forecasts from every ticker's session so far, published (not stored)."""
        partials = list(self._so_far.values())
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
        provisional = [dataclasses.replace(f, provisional=True) for f in forecasts]
        if provisional:
            try:
                await self._bus.publish_many(PREDICTIONS, [(f.ticker, f) for f in provisional])
            except BusError as exc:
                _LOG.warning("could not publish %d nowcasts: %s", len(provisional), exc)
                return
        self.stats.nowcasts += len(provisional)

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
            complete = self._complete(ts)
            overdue = position < len(closes) - 1 and now - self._first_seen[ts] >= self.idle_close
            if not (complete or overdue or everything):
                break
            taken = self._pending.pop(ts)
            self._first_seen.pop(ts, None)
            if complete:
                self._expected = {bar.ticker for bar, _ in taken}
            await self._close(ts, taken)
            for bar, _ in taken:
                so_far = self._so_far.get(bar.ticker)
                if so_far is not None and so_far.ts <= ts:
                    del self._so_far[bar.ticker]  # committed by the close

    async def _close(self, ts: datetime, taken: list[tuple[Bar, Delivery]]) -> None:
        started = time.monotonic()
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
            forecasts = await asyncio.to_thread(self._forecast, rows, ts)
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
        self.stats.sessions += 1
        self.stats.latencies.append(time.monotonic() - started)
        await self._ack([delivery for _, delivery in taken])

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

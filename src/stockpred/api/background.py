"""The work no request waits for: following what the writers announce on the bus (feature
rows committed, champions moved), refreshing forecasts, publishing new ones on the bus and
relaying the bus's forecasts to this process's websockets, calling the webhooks, storing the
forecasts served, and bringing stale tickers up to date.

Every API process follows the ``features``, ``models`` and ``predictions`` topics as a group of
its own (``ApiServices.instance``) created ``new_only``: what happened before it started is in
the store and the registry, which it reads at start-up. The group is deleted when the process
stops. A bus that is down costs the events, never the service: the periodic refresh
(``api_model_poll_seconds``) and, on the embedded store, the file watch catch up.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from stockpred.api.schemas import prediction_out
from stockpred.api.services import ApiServices
from stockpred.bus.base import Record, Subscription
from stockpred.bus.topics import FEATURES, MODELS, PREDICTIONS
from stockpred.domain.errors import BusError, StockpredError, StoreError
from stockpred.domain.records import FeaturesWritten, ModelPromoted, Prediction
from stockpred.pipeline.predict import forecast_records

if TYPE_CHECKING:
    from stockpred.stream.processor import StreamProcessor

__all__ = [
    "EVENT_HANDLERS",
    "PREDICTIONS_TOPIC",
    "fan_out",
    "follow",
    "follow_features",
    "follow_models",
    "forecast_event_id",
    "publish_new",
    "refresh_once",
    "refresh_periodically",
    "relay_predictions",
    "replay_demo",
    "save_served",
    "schedule_stale_refresh",
    "subscribe_events",
    "watch_store",
]

# The websocket fan-out's topic (api/fanout.py), the same name as the bus's.
PREDICTIONS_TOPIC = PREDICTIONS
_LOG = logging.getLogger("stockpred.api")
# How long a handler waits for the embedded store while its writer still holds it.
STORE_BUSY_SECONDS = 15.0
# How often a lost subscription is tried again.
RESUBSCRIBE_SECONDS = 5.0


async def refresh_once(services: ApiServices) -> int:
    """One pass of the background work; returns how many new forecasts were pushed."""
    new: list[Prediction] = await run_in_threadpool(services.serving.refresh)
    await publish_new(services, new)
    await save_served(services)
    return len(new)


async def publish_new(services: ApiServices, new: list[Prediction]) -> None:
    """Publish new forecasts on the bus (every API process relays them to its websockets) and
    call the webhooks. If the bus cannot take them, this process's websockets get them still."""
    if not new:
        return
    try:
        await services.bus.publish_many(PREDICTIONS, [(p.ticker, p) for p in new])
    except BusError as exc:
        _LOG.warning(
            "could not publish %d forecasts on the bus; this process's websockets get them: %s",
            len(new),
            exc,
        )
        for forecast in new:
            fan_out(services, forecast)
    for forecast in new:
        served = services.serving.peek(forecast.ticker, forecast.horizon)
        if served is None:
            continue
        message = prediction_out(served).model_dump(mode="json")
        await services.webhooks.publish(
            message, ticker=forecast.ticker, event_id=forecast_event_id(forecast)
        )


def fan_out(services: ApiServices, forecast: Prediction) -> bool:
    """Hand ``forecast`` to this process's websocket clients unless it already was; True when
    it was handed out."""
    if not services.seen.first_time(forecast_event_id(forecast)):
        return False
    message = prediction_out(services.serving.served(forecast)).model_dump(mode="json")
    services.fanout.publish(PREDICTIONS_TOPIC, message)
    return True


async def relay_predictions(services: ApiServices, records: Sequence[Record]) -> None:
    """The bus's new forecasts (from any process) to this process's websockets."""
    for record in records:
        if isinstance(record, Prediction):
            fan_out(services, record)


async def follow_features(services: ApiServices, records: Sequence[Record]) -> None:
    """Feature rows another process committed: recompute those tickers' forecasts (waiting
    for the embedded store while its writer still holds it) and publish the new ones."""
    served_sets = {m.feature_set for m in services.serving.models.values()}
    tickers = sorted(
        {
            ticker
            for record in records
            if isinstance(record, FeaturesWritten) and record.feature_set in served_sets
            for ticker in record.tickers
        }
    )
    if tickers:
        new = await _when_store_free(lambda: services.serving.apply_features(tickers))
        await publish_new(services, new)


async def follow_models(services: ApiServices, records: Sequence[Record]) -> None:
    """A champion moved: load it and publish the forecasts it changed."""
    if any(isinstance(record, ModelPromoted) for record in records):
        new = await _when_store_free(services.serving.reload_champions)
        await publish_new(services, new)


async def _when_store_free(job: Callable[[], list[Prediction]]) -> list[Prediction]:
    """``job()`` in a thread, tried again while the store is busy (StoreError: the embedded
    file's writer has not let go of it yet), for up to ``STORE_BUSY_SECONDS``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STORE_BUSY_SECONDS
    while True:
        try:
            return await run_in_threadpool(job)
        except StoreError:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.1)


Handler = Callable[[ApiServices, Sequence[Record]], Awaitable[None]]


async def subscribe_events(services: ApiServices, topic: str) -> Subscription | None:
    """This process's group on ``topic``, new records only; None (logged) when the bus is
    unreachable: :func:`follow` tries again."""
    try:
        return await services.bus.subscribe(
            topic, group=services.instance, consumer=services.instance, new_only=True
        )
    except BusError as exc:
        _LOG.warning("cannot follow %r on the bus (retrying): %s", topic, exc)
        return None


async def follow(
    services: ApiServices,
    topic: str,
    handle: Handler,
    subscription: Subscription | None = None,
) -> None:
    """Hand ``topic``'s records to ``handle`` in batches until cancelled, acknowledging each
    batch once handled (or once its handling failed: the periodic refresh catches up). On
    cancellation the process's group is closed and deleted."""
    try:
        while True:
            if subscription is None:
                subscription = await subscribe_events(services, topic)
                if subscription is None:
                    await asyncio.sleep(RESUBSCRIBE_SECONDS)
                    continue
            try:
                deliveries = await subscription.fetch(max_records=500, timeout=1.0)
            except BusError as exc:
                _LOG.warning("reading %r from the bus failed (retrying): %s", topic, exc)
                await asyncio.sleep(1.0)
                continue
            if not deliveries:
                continue
            try:
                await handle(services, [d.record for d in deliveries])
            except StockpredError as exc:
                _LOG.warning("handling %d %r events failed: %s", len(deliveries), topic, exc)
            except Exception:
                _LOG.exception("handling %d %r events failed unexpectedly", len(deliveries), topic)
            with suppress(BusError):
                await subscription.ack(deliveries)
    finally:
        if subscription is not None:
            with suppress(BusError):
                await subscription.close()
                await services.bus.delete_group(topic, group=services.instance)


EVENT_HANDLERS: dict[str, Handler] = {
    FEATURES: follow_features,
    MODELS: follow_models,
    PREDICTIONS: relay_predictions,
}


async def save_served(services: ApiServices) -> None:
    """Store the forecasts served since the last call (DESIGN.md, invariant 5)."""
    services.served_log.keep_only(services.serving.served_keys())
    unsaved = services.served_log.take()
    if not unsaved:
        return
    records = forecast_records(unsaved)

    def write() -> None:
        with services.open_store() as store:
            store.write_predictions(records)

    try:
        await run_in_threadpool(write)
    except StockpredError:
        # The store may be busy (another process writing the DuckDB file): keep them for the
        # next pass rather than lose them.
        services.served_log.requeue(unsaved)
        _LOG.warning("could not store %d served forecasts; will retry", len(unsaved))


async def refresh_periodically(services: ApiServices) -> None:
    """Every ``api_model_poll_seconds``: follow the champion aliases (the registry only; the
    store is opened when one moved), store what was served, and, when no file change can be
    watched (PostgreSQL), recompute what the store's coverage says changed."""
    interval = services.settings.api_model_poll_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            job = services.serving.reload_champions
            if services.store_changes is None:
                job = services.serving.refresh
            await publish_new(services, await run_in_threadpool(job))
            await save_served(services)
        except StockpredError as exc:
            _LOG.warning("refresh failed: %s", exc)
        except Exception:
            _LOG.exception("refresh failed unexpectedly")


# How often the embedded store's file is looked at (a stat: no open, no lock).
WATCH_SECONDS = 0.2


async def watch_store(services: ApiServices) -> None:
    """Recompute forecasts soon after another process writes the embedded store: its change
    token is read every ``WATCH_SECONDS``; when it moves, the store is opened once, after the
    writer has let go of it (a store still locked is tried again on the next look, quietly)."""
    probe = services.store_changes
    if probe is None:
        return
    seen = probe()
    while True:
        await asyncio.sleep(WATCH_SECONDS)
        token = probe()
        if token == seen:
            continue
        try:
            new = await run_in_threadpool(services.serving.refresh)
        except StoreError as exc:
            _LOG.debug("store changed but is still busy; trying again: %s", exc)
            continue
        except StockpredError as exc:
            _LOG.warning("refresh after a store change failed: %s", exc)
        except Exception:
            _LOG.exception("refresh after a store change failed unexpectedly")
        else:
            await publish_new(services, new)
        seen = token


def forecast_event_id(forecast: Prediction) -> str:
    """The same id for the same forecast (ticker, horizon, model version, feature time),
    whichever worker publishes it, so receivers can drop repeats."""
    identity = (
        f"{forecast.ticker}|{forecast.horizon}|{forecast.registered_name}|"
        f"{forecast.model_version}|{forecast.as_of.isoformat()}"
        # A nowcast never stands for (or hides) the committed forecast of the same time.
        + ("|provisional" if forecast.provisional else "")
    )
    return "evt_" + hashlib.sha256(identity.encode()).hexdigest()[:24]


def schedule_stale_refresh(services: ApiServices, ticker: str) -> None:
    """Bring ``ticker`` up to date in the background when configured (``api_refresh_stale``)
    and not refreshed lately; returns at once."""
    refresher = services.refresher
    if refresher is None or not refresher.claim(ticker):
        return

    async def refresh() -> None:
        try:
            await run_in_threadpool(refresher.refresh, ticker)
            await refresh_once(services)
        except StockpredError as exc:
            _LOG.warning("refreshing stale ticker %s failed: %s", ticker, exc)
        except Exception:
            _LOG.exception("refreshing stale ticker %s failed unexpectedly", ticker)

    task = asyncio.get_running_loop().create_task(refresh())
    services.tasks.add(task)
    task.add_done_callback(services.tasks.discard)


# The pause between two passes of the demo's replay: long enough that a pass's forecasts are
# out of the websocket's de-duplication window (api/fanout.py, SeenIds) when the next comes.
REPLAY_PAUSE_SECONDS = 30.0
# The demo's last sessions replayed as intraday bars of this length.
DEMO_INTRADAY_SESSIONS = 2
DEMO_INTRADAY_EVERY = timedelta(minutes=5)


async def replay_demo(services: ApiServices) -> None:
    """The demo's live source (``api_stream_replay``): the stream processor in this process,
    fed the last stored year by the replay feed at its default pace, the last sessions of it
    intraday, pass after pass. Its forecasts go out on the bus like any stream's, so the
    websocket clients see them arrive: provisional ones during those sessions, then each
    session's committed ones at its close."""
    from stockpred.bus.topics import BARS
    from stockpred.compose import stream_setup
    from stockpred.domain.frames import bars_of
    from stockpred.sources.feeds.intraday import split_last_sessions
    from stockpred.sources.feeds.replay import (
        DEFAULT_SPEED,
        INTRADAY_SPEED,
        ReplayFeed,
        replay_window,
    )

    passes = 0
    while True:
        passes += 1
        group = f"{services.instance}-replay-{passes}"
        try:
            setup = await run_in_threadpool(
                functools.partial(
                    stream_setup,
                    services.settings,
                    services.bus,
                    clock=services.clock,
                    group=group,
                    consumer=group,
                    new_only=True,
                    keep_bars=False,
                )
            )
            cut, replayed = replay_window(setup.bars, services.universe.select)
            await run_in_threadpool(setup.processor.state.warm, setup.bars[setup.bars["ts"] <= cut])
        except StockpredError as exc:
            _LOG.warning("the demo replay cannot start: %s", exc)
            return
        # The last sessions come as 5-minute bars (split from the daily ones), a session a
        # minute: provisional forecasts through each, then the committed one at its close.
        bars = split_last_sessions(
            bars_of(replayed),
            every=DEMO_INTRADAY_EVERY,
            sessions=DEMO_INTRADAY_SESSIONS,
            calendar=services.settings.calendar,
        )
        feed = ReplayFeed(bars, speed=DEFAULT_SPEED, intraday_speed=INTRADAY_SPEED)
        stop = asyncio.Event()
        running = asyncio.create_task(setup.processor.run(stop))
        _LOG.info("demo replay pass %d: %d sessions from %s", passes, feed.sessions, cut.date())
        try:
            # Its group is new_only: publish once it has joined, or the first bars are missed.
            ready = asyncio.create_task(setup.processor.ready.wait())
            await asyncio.wait({ready, running}, timeout=60, return_when=FIRST_COMPLETED)
            ready.cancel()
            if running.done():
                running.result()  # it failed before it was ready: say why
            async for batch in feed.batches():
                await services.bus.publish_many(BARS, [(b.ticker, b) for b in batch.bars])
            await _until_handled(setup.processor, feed.sessions, running)
            if running.done():
                running.result()
        except StockpredError as exc:
            _LOG.warning("the demo replay stopped: %s", exc)
            return
        finally:
            stop.set()
            await asyncio.gather(running, return_exceptions=True)
            with suppress(StockpredError):
                await setup.processor.forget()
        await asyncio.sleep(REPLAY_PAUSE_SECONDS)


async def _until_handled(
    processor: StreamProcessor, sessions: int, running: asyncio.Task[Any]
) -> None:
    """Until ``processor`` has closed ``sessions`` sessions, stopped, or made no progress for
    30 s (then the pass is over as it is)."""
    seen, since = -1, asyncio.get_running_loop().time()
    while processor.stats.sessions < sessions and not running.done():
        now = asyncio.get_running_loop().time()
        if processor.stats.sessions != seen:
            seen, since = processor.stats.sessions, now
        elif now - since > 30:
            _LOG.warning(
                "demo replay pass stalled at %d of %d sessions", processor.stats.sessions, sessions
            )
            return
        await asyncio.sleep(0.1)

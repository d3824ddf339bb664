"""The work no request waits for: refreshing forecasts, pushing new ones to the stream and the
webhooks, storing the forecasts served, and bringing stale tickers up to date."""

from __future__ import annotations

import asyncio
import hashlib
import logging

from starlette.concurrency import run_in_threadpool

from stockpred.api.schemas import prediction_out
from stockpred.api.services import ApiServices
from stockpred.domain.errors import StockpredError, StoreError
from stockpred.domain.records import Prediction
from stockpred.pipeline.predict import forecast_records

__all__ = [
    "PREDICTIONS_TOPIC",
    "forecast_event_id",
    "publish_new",
    "refresh_once",
    "refresh_periodically",
    "save_served",
    "schedule_stale_refresh",
    "watch_store",
]

# The bus topic new forecasts are published on (the websocket stream subscribes to it).
PREDICTIONS_TOPIC = "predictions"
_LOG = logging.getLogger("stockpred.api")


async def refresh_once(services: ApiServices) -> int:
    """One pass of the background work; returns how many new forecasts were pushed."""
    new: list[Prediction] = await run_in_threadpool(services.serving.refresh)
    await publish_new(services, new)
    await save_served(services)
    return len(new)


async def publish_new(services: ApiServices, new: list[Prediction]) -> None:
    """Push new forecasts to the stream (the bus) and the webhooks."""
    for forecast in new:
        served = services.serving.peek(forecast.ticker, forecast.horizon)
        if served is None:
            continue
        message = prediction_out(served).model_dump(mode="json")
        services.bus.publish(PREDICTIONS_TOPIC, message)
        await services.webhooks.publish(
            message, ticker=forecast.ticker, event_id=forecast_event_id(forecast)
        )


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

"""The FastAPI application: ``create_app`` from ready services, ``create_app_from_settings`` from
the settings (the composition root of the serving process).

Background tasks, started with the app, do the work no request should wait for
(api/background.py): they follow the writers' events on the bus (features committed, champions
moved) and recompute what changed, relay new forecasts from the bus to the websockets, call the
webhooks, and every ``api_model_poll_seconds`` follow the champion aliases and store the
forecasts served since the last pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from stockpred import __version__
from stockpred.api.background import (
    EVENT_HANDLERS,
    follow,
    refresh_periodically,
    replay_demo,
    save_served,
    subscribe_events,
    watch_store,
)
from stockpred.api.deps import scope_of
from stockpred.api.errors import install_error_handlers
from stockpred.api.limits import BodyLimitMiddleware, SecurityHeadersMiddleware
from stockpred.api.metrics import ApiMetrics, MetricsMiddleware, multiprocess_directory
from stockpred.api.redaction import CredentialsInQueryMiddleware, install_log_redaction
from stockpred.api.routes import (
    auth,
    health,
    models,
    monitoring,
    predictions,
    status,
    stream,
    tickers,
    webhooks,
)
from stockpred.api.services import ApiServices
from stockpred.domain.errors import BusError, StockpredError
from stockpred.monitor.exposition import MonitoringCollector, RenderedMetrics, ReportCache
from stockpred.monitor.report import MonitorReport
from stockpred.pipeline.serving import ServingState, StaleRefresher
from stockpred.settings import Settings, load_settings, make_private
from stockpred.store.base import Store

__all__ = ["build_services", "create_app", "create_app_from_settings", "instance_name"]

_LOG = logging.getLogger("stockpred.api")

DESCRIPTION = """
Forecasts of forward log returns from the champion model of each horizon, with conformal
intervals, the probability of a rise, the model version and the feature timestamp used.

Authenticate with OAuth2 client credentials: `POST /v1/token` with a client id and secret
(`stockpred clients create`), then send `Authorization: Bearer <token>`.
"""


def create_app(services: ApiServices, *, background: bool = True) -> FastAPI:
    """The app over ready services. The first refresh runs at start-up, so the champion and
    forecasts are loaded before the first request; ``background`` runs the periodic one."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Joined before the first refresh, so nothing announced after it is missed.
        subscriptions = (
            {topic: await subscribe_events(services, topic) for topic in EVENT_HANDLERS}
            if background
            else {}
        )
        try:
            await run_in_threadpool(services.serving.refresh)
        except StockpredError as exc:
            _LOG.warning("no forecasts at start-up: %s", exc)
        # Everything loaded so far (pandas, the model, the forecast table) lives as long as
        # the process: moved out of the collector's reach, a full collection no longer walks
        # it, which was a pause of tens of milliseconds in the p99 latency.
        gc.freeze()
        tasks = (
            [asyncio.create_task(refresh_periodically(services))]
            + ([asyncio.create_task(watch_store(services))] if services.store_changes else [])
            + [
                asyncio.create_task(follow(services, topic, EVENT_HANDLERS[topic], subscription))
                for topic, subscription in subscriptions.items()
            ]
            + (
                [asyncio.create_task(replay_demo(services))]
                if services.settings.api_stream_replay
                else []
            )
            if background
            else []
        )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(BusError):
                await services.bus.close()
            await save_served(services)
            await services.webhooks.drain()
            await services.webhooks.aclose()
            if services.notifier is not None:
                await services.notifier.drain()
                await services.notifier.aclose()
            await services.limiter.aclose()
            await services.auth_throttle.aclose()
            services.hash_pool.shutdown()
            services.jobs.shutdown()
            services.clients.close()
            services.alerts.close()

    app = FastAPI(
        title="stockpred",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    # Added last, so they run first: a URL carrying a credential is refused, and an oversized
    # body is refused, before anything reads them.
    app.add_middleware(BodyLimitMiddleware, max_bytes=services.settings.api_max_body_bytes)
    app.add_middleware(CredentialsInQueryMiddleware)
    if services.settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=services.settings.api_cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    install_log_redaction()
    for module in (
        health,
        auth,
        predictions,
        tickers,
        models,
        monitoring,
        status,
        stream,
        webhooks,
    ):
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the OAuth2 client-credentials scheme (so /docs can fetch a
    token) and, on each operation, the scope its ``require`` dependency demands."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {})["securitySchemes"] = {
        "oauth2": {
            "type": "oauth2",
            "description": "client credentials from `stockpred clients create`",
            "flows": {"clientCredentials": {"tokenUrl": "/v1/token", "scopes": _SCOPES}},
        }
    }
    for route in _api_routes(app.routes):
        calls = [d.call for d in route.dependant.dependencies if d.call is not None]
        scopes = [s for call in calls if (s := scope_of(call)) is not None]
        if not scopes:
            continue
        for method in route.methods or ():
            operation = schema["paths"][route.path_format].get(method.lower())
            if operation is not None:
                operation["security"] = [{"oauth2": scopes}]
    _document_middleware_answers(schema)
    app.openapi_schema = schema
    return schema


def _document_middleware_answers(schema: dict[str, Any]) -> None:
    """Answers the middleware gives before any route runs, on every operation they can reach:
    400 for a credential in the query string, 413 for a body over ``api_max_body_bytes``."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    if "ErrorOut" not in schema.get("components", {}).get("schemas", {}):
        return
    for path in schema["paths"].values():
        for operation in path.values():
            answers = operation.setdefault("responses", {})
            answers.setdefault(
                "400",
                {
                    "description": "the query string names a credential "
                    "(code credentials_in_query); send it in a header or the body",
                    "content": error,
                },
            )
            if "requestBody" in operation:
                answers.setdefault(
                    "413",
                    {"description": "the body is over the configured limit", "content": error},
                )


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, including those of included routers (FastAPI 0.16x keeps an included
    router as one entry that wraps the original; our routers have no prefix)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


_SCOPES = {
    "predictions:read": "forecasts, tickers, bars, features, news, models, status",
    "stream:read": "the websocket stream",
    "webhooks:write": "register and manage webhooks",
    "models:write": "start retraining",
    "admin": "everything",
}


@contextmanager
def _opened(settings: Settings) -> Iterator[Store]:
    from stockpred.compose import open_store

    with open_store(settings) as store:
        yield store


def _monitor_reports(settings: Settings, serving: ServingState) -> list[MonitorReport]:
    """What the monitor stored of each served champion (``stockpred monitor``)."""
    from stockpred.monitor.report import read_report  # pandas: loaded on the first scrape

    served = sorted(serving.models.items())
    if not served:
        return []
    with _opened(settings) as store:
        return [
            read_report(store, horizon=h, model_version=str(m.version.version)) for h, m in served
        ]


def build_services(
    settings: Settings, *, clock: Callable[[], datetime] | None = None
) -> ApiServices:
    """Every part of the serving process, chosen by the settings."""
    from stockpred.api.clients import ClientStore
    from stockpred.api.fanout import Fanout, SeenIds
    from stockpred.api.hashing import HashPool
    from stockpred.api.jobs import JobRunner
    from stockpred.api.ratelimit import build_auth_throttle, build_rate_limiter
    from stockpred.api.rendering import RenderCache
    from stockpred.api.security import build_token_services
    from stockpred.compose import (
        notifier,
        open_bus,
        open_registry,
        provider_status,
        store_changes,
        universe,
    )
    from stockpred.notify.alert_log import AlertLog
    from stockpred.notify.webhooks import WebhookService
    from stockpred.pipeline.serving import ChampionCache, FreshnessCache, ServedLog, ServingState

    now = clock or (lambda: datetime.now(UTC))
    registry = open_registry(settings)
    verifier, issuer = build_token_services(settings, clock=now)

    def retrain(*, horizon: int, tune: bool, trigger: str | None = None) -> Mapping[str, object]:
        from stockpred.compose import retrain_with
        from stockpred.pipeline.retrain import retrain_payload

        result = retrain_with(settings, horizon=horizon, tune=tune, now=now(), trigger=trigger)
        return retrain_payload(result)

    modelled = universe(settings)
    freshness = FreshnessCache(calendar=settings.calendar, clock=now)
    serving = ServingState(
        lambda: _opened(settings),
        ChampionCache(registry, horizons=settings.api_horizons, cache=settings.home / "models"),
        freshness=freshness,
        clock=now,
        universe=modelled,
    )
    # A lambda, not the bound method: each champion reload replaces the mapping.
    champions = lambda: serving.models.values()  # noqa: E731, PLW0108
    metrics = ApiMetrics(multiprocess_dir=multiprocess_directory(), champions=champions)
    changes = store_changes(settings)
    if settings.api_monitor_metrics:
        reports = ReportCache(lambda: _monitor_reports(settings, serving), changes=changes)
        collector = MonitoringCollector(
            reports.reports, sessions_behind=lambda ts: freshness.of(ts).sessions_behind
        )
        metrics.add_rendered(RenderedMetrics(collector))

    def served_sets() -> list[str]:
        return sorted({m.feature_set for m in serving.models.values()})

    return ApiServices(
        settings=settings,
        universe=modelled,
        store_changes=changes,
        refresher=(
            _stale_refresher(settings, feature_sets=served_sets, clock=now)
            if settings.api_refresh_stale
            else None
        ),
        open_store=lambda: _opened(settings),
        registry=registry,
        serving=serving,
        served_log=ServedLog(),
        renders=RenderCache(),
        verifier=verifier,
        issuer=issuer,
        clients=ClientStore(settings.api_database_url, clock=now),
        limiter=build_rate_limiter(settings),
        auth_throttle=build_auth_throttle(settings),
        hash_pool=HashPool(concurrency=settings.api_hash_concurrency),
        bus=open_bus(settings),
        fanout=Fanout(),
        seen=SeenIds(),
        instance=instance_name(),
        webhooks=WebhookService(
            settings.api_database_url,
            clock=now,
            allow_private_addresses=settings.environment != "production",
            on_outcome=metrics.record_webhook_delivery,
        ),
        jobs=JobRunner(clock=now),
        notifier=notifier(settings, clock=now),
        retrain=retrain,
        metrics=metrics,
        clock=now,
        alerts=AlertLog(settings.api_database_url),
        provider_status=provider_status(settings),
    )


def instance_name() -> str:
    """This process's name on the bus: ``api-HOST-PID``, in the characters every broker takes."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:60] or "host"
    return f"api-{host}-{os.getpid()}"


def _stale_refresher(
    settings: Settings,
    *,
    feature_sets: Callable[[], Sequence[str]],
    clock: Callable[[], datetime],
) -> StaleRefresher:
    """Fetch a ticker's missing bars from ``price_source`` and rebuild the feature sets the
    champions read (``feature_sets()``; the default set before any champion is loaded)."""
    from stockpred.compose import provider_context
    from stockpred.features.sets import DEFAULT_FEATURE_SET, get_feature_set
    from stockpred.pipeline.features import build_features
    from stockpred.pipeline.fetch import ingest_prices
    from stockpred.sources.providers.registry import price_provider

    provider = price_provider(
        settings.price_source, provider_context(settings, settings.price_source)
    )

    def update(store: Store, ticker: str) -> None:
        ingest_prices(store, provider, [ticker], calendar=settings.calendar, now=clock())
        for name in feature_sets() or [DEFAULT_FEATURE_SET]:
            build_features(store, get_feature_set(name), tickers=[ticker], now=clock())

    return StaleRefresher(
        lambda: _opened(settings), update=update, cooldown_seconds=300.0, clock=clock
    )


def create_app_from_settings(
    settings: Settings | None = None, *, background: bool = True
) -> FastAPI:
    """The app as `stockpred serve` (and, without the periodic task, the Lambda handler) run
    it."""
    settings = settings or load_settings()
    make_private(settings)
    return create_app(build_services(settings), background=background)

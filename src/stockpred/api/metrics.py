"""Prometheus metrics of the API process: requests, latency, predictions, websockets, webhooks.

Each ``ApiMetrics`` owns its ``CollectorRegistry`` (never prometheus_client's global one), so
two apps in one process, or two tests, never share or collide on series. One process, one
registry: run one uvicorn worker per container and let Prometheus sum the replicas (the
multi-process mode of prometheus_client is not used).

Requests are labelled by the *route template* that matched ("/v1/predictions/{ticker}"), never
the raw path, and paths that match no route share the label ``unmatched``: a label per URL would
let any client create unbounded series.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.responses import Response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LATENCY_BUCKETS",
    "UNMATCHED_ROUTE",
    "ApiMetrics",
    "MetricsMiddleware",
    "metrics_response",
]

# Seconds: from a cached forecast (~0.5 ms) to a slow batch or a cold model load (1 s and over).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
UNMATCHED_ROUTE = "unmatched"
# The framework's documentation routes leave no route in the scope; they are few and fixed, so
# they keep their own path as label.
_DOCUMENTATION_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# Any other method string a client sends is counted as "other", for the same reason as paths.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ApiMetrics:
    """The API's metrics and the registry that exposes them (``metrics_response``).

    The middleware records requests; routes call ``record_prediction``, ``websocket_opened``/
    ``websocket_closed`` and ``record_webhook_delivery``.
    """

    def __init__(self, *, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry()
        if process_metrics:
            # CPU, memory, open files, GC: read at scrape time, nothing per request.
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._requests = Counter(
            "stockpred_api_requests",
            "HTTP requests answered, by method, route template and status code",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "stockpred_api_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by method and route",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._in_flight = Gauge(
            "stockpred_api_requests_in_flight",
            "HTTP requests being answered now",
            registry=self.registry,
        )
        self._predictions = Counter(
            "stockpred_api_predictions",
            "Forecasts served, by horizon (sessions) and model version",
            ("horizon", "model_version"),
            registry=self.registry,
        )
        self._websockets = Gauge(
            "stockpred_api_websocket_connections",
            "Websocket connections open now",
            registry=self.registry,
        )
        self._webhook_deliveries = Counter(
            "stockpred_api_webhook_deliveries",
            "Webhook deliveries, by outcome (delivered, retried, failed, ...)",
            ("outcome",),
            registry=self.registry,
        )
        # labels() takes a lock and builds a key on every call; the children, once made, are
        # kept here so a request costs one dict lookup.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def request_started(self) -> None:
        self._in_flight.inc()

    def request_finished(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request; ``route`` is its template (or ``UNMATCHED_ROUTE``)."""
        self._in_flight.dec()
        if method not in _METHODS:
            method = "other"
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self._requests.labels(method, route, str(status)),
                self._latency.labels(method, route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def record_prediction(self, *, horizon: int, model_version: str, count: int = 1) -> None:
        """``count`` forecasts served by ``model_version`` of ``horizon``'s champion."""
        self._predictions.labels(str(horizon), model_version).inc(count)

    def websocket_opened(self) -> None:
        self._websockets.inc()

    def websocket_closed(self) -> None:
        self._websockets.dec()

    def record_webhook_delivery(self, outcome: str) -> None:
        """Count one delivery attempt's ``outcome``; keep the outcomes a small fixed set."""
        self._webhook_deliveries.labels(outcome).inc()


class MetricsMiddleware:
    """Pure ASGI middleware recording every HTTP request in ``ApiMetrics``.

    Starlette's ``BaseHTTPMiddleware`` runs the app in a separate task and copies each response
    through a stream; wrapping ``send`` to read the status costs a function call instead.
    Websocket and lifespan scopes pass through untouched (websockets have their own gauge).
    """

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # An exception that escapes the app before a response started becomes a 500 upstream.
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        metrics.request_started()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # The router leaves the matched route in the (shared) scope.
            route = getattr(scope.get("route"), "path_format", None)
            if route is None:
                path = scope.get("path", "")
                route = path if path in _DOCUMENTATION_PATHS else UNMATCHED_ROUTE
            metrics.request_finished(
                method=scope["method"],
                route=route,
                status=status,
                seconds=time.perf_counter() - started,
            )


def metrics_response(metrics: ApiMetrics) -> Response:
    """The Prometheus text exposition of ``metrics``, for GET /metrics."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

"""Prometheus metrics of the API process: requests, latency, predictions, websockets, webhooks.

Each ``ApiMetrics`` owns its ``CollectorRegistry`` (never prometheus_client's global one), so
two apps in one process, or two tests, never share or collide on series.

With one worker (the default, and one worker per container behind a load balancer), that
registry is the exposition, with the process's CPU, memory and GC collectors. With
``stockpred serve --workers N`` (N > 1) the workers share one port, so a scrape reaches one of
them at random: serve then turns on prometheus_client's multiprocess mode. It sets
``PROMETHEUS_MULTIPROC_DIR`` to a fresh private directory before uvicorn spawns the workers
(prometheus_client picks its value class when it is first imported, which in a worker comes
after), each worker's values live in memory-mapped files there, and /metrics sums every
worker's files on a fresh registry per scrape (``MultiProcessCollector``). The gauges sum the
live workers only (``livesum``): a scrape first forgets the gauge files of workers that are gone
(uvicorn restarts a dead worker but has no hook to say so), while the counters of a dead worker
stay counted. The process collectors are left out there (they would describe whichever worker
answered). serve removes the directory when it exits.

``stockpred_model_info`` names each served champion; it is read from the champion cache at
scrape time (by the worker that answers: every worker follows the same aliases).

Requests are labelled by the *route template* that matched ("/v1/predictions/{ticker}"), never
the raw path, and paths that match no route share the label ``unmatched``: a label per URL would
let any client create unbounded series.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
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
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.responses import Response

from stockpred.monitor.process_metrics import ModelInfoCollector, ServedChampion

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LATENCY_BUCKETS",
    "MULTIPROCESS_DIR_ENV",
    "UNMATCHED_ROUTE",
    "ApiMetrics",
    "MetricsMiddleware",
    "forget_dead_workers",
    "metrics_response",
    "multiprocess_directory",
]

# prometheus_client's own variable: set, it switches every metric of the process to files there.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

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
# The kinds of deploy/prometheus/rules: the label values an alert counter takes.
ALERT_KINDS = frozenset(
    {"availability", "errors", "latency", "bus", "staleness", "drift", "accuracy", "retrain"}
)
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

    def __init__(
        self,
        *,
        process_metrics: bool = True,
        multiprocess_dir: Path | None = None,
        champions: Callable[[], Iterable[ServedChampion]] | None = None,
    ) -> None:
        # Set when the workers share a multiprocess directory (``multiprocess_directory()``);
        # the metrics below then write there (prometheus_client decided that at its import).
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        self._model_info = ModelInfoCollector(champions or (lambda: ()))
        # Collectors read at scrape time (model info, the monitor's figures): on this registry,
        # or with several workers on each scrape's fresh one.
        self._scraped: list[Collector] = [self._model_info]
        self._rendered: list[Callable[[], bytes]] = []
        if multiprocess_dir is None:
            self.registry.register(self._model_info)
        if process_metrics and multiprocess_dir is None:
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
            multiprocess_mode="livesum",
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
            multiprocess_mode="livesum",
        )
        self._webhook_deliveries = Counter(
            "stockpred_api_webhook_deliveries",
            "Webhook deliveries, by outcome (delivered, retried, failed, ...)",
            ("outcome",),
            registry=self.registry,
        )
        self._retrains = Counter(
            "stockpred_retrain_runs",
            "Retrains run by the API, by horizon, outcome (promoted, kept, failed) and trigger "
            "(alert, manual)",
            ("horizon", "outcome", "trigger"),
            registry=self.registry,
        )
        self._alerts = Counter(
            "stockpred_api_alerts_received",
            "Alerts posted by Alertmanager, by the rule's kind and status",
            ("kind", "status"),
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

    def record_retrain(self, *, horizon: int, outcome: str, trigger: str) -> None:
        """One retrain the API ran: ``outcome`` promoted, kept or failed; ``trigger`` alert or
        manual (the scheduler counts its own, trigger schedule)."""
        self._retrains.labels(str(horizon), outcome, trigger).inc()

    def record_alert(self, *, kind: str, status: str) -> None:
        """One alert Alertmanager posted; ``kind`` outside :data:`ALERT_KINDS` counts as
        ``other`` (a caller must not be able to create series at will)."""
        self._alerts.labels(
            kind if kind in ALERT_KINDS else "other",
            status if status in ("firing", "resolved") else "other",
        ).inc()

    def record_webhook_delivery(self, outcome: str) -> None:
        """Count one delivery attempt's ``outcome``; keep the outcomes a small fixed set."""
        self._webhook_deliveries.labels(outcome).inc()

    def exposition(self) -> bytes:
        """The Prometheus text exposition: this registry's, or with several workers every
        worker's files summed on a fresh registry (so no scrape sees another's state); then
        the rendered texts of :meth:`add_rendered`."""
        directory = self.multiprocess_dir
        if directory is None:
            base = generate_latest(self.registry)
        else:
            forget_dead_workers(directory)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
            for collector in self._scraped:
                registry.register(collector)
            base = generate_latest(registry)
        return base + b"".join(render() for render in self._rendered)

    def add_collector(self, collector: Collector) -> None:
        """Expose ``collector``, read at every scrape (like ``stockpred_model_info``)."""
        self._scraped.append(collector)
        if self.multiprocess_dir is None:
            self.registry.register(collector)

    def add_rendered(self, render: Callable[[], bytes]) -> None:
        """Append ``render()``, text already in the exposition format, to every scrape: the
        monitor's hundreds of accuracy and drift series (``monitor/exposition.py``), which
        change once a session and are rendered once a minute, not once a scrape."""
        self._rendered.append(render)


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


def multiprocess_directory() -> Path | None:
    """The multiprocess directory ``stockpred serve --workers N`` gave this worker, or None."""
    value = os.environ.get(MULTIPROCESS_DIR_ENV)
    return Path(value) if value else None


def forget_dead_workers(directory: Path) -> list[int]:
    """Remove the live-gauge files of the worker processes that no longer exist (what
    ``mark_process_dead`` does from a gunicorn hook; uvicorn has none); returns their pids.
    Their counters and histograms are kept: what a dead worker counted stays counted."""
    dead: list[int] = []
    for file in directory.glob("gauge_live*_*.db"):
        pid_text = file.stem.rsplit("_", 1)[-1]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid != os.getpid() and not _alive(pid):
            mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
            dead.append(pid)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def metrics_response(metrics: ApiMetrics) -> Response:
    """The Prometheus text exposition of ``metrics``, for GET /metrics."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

"""API metrics: requests counted under their route template, a bounded label set, a valid
Prometheus exposition, and a middleware that leaves websockets alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Message, Receive, Scope, Send

from stockpred.api.errors import install_error_handlers
from stockpred.api.metrics import (
    UNMATCHED_ROUTE,
    ApiMetrics,
    MetricsMiddleware,
    forget_dead_workers,
    metrics_response,
)
from stockpred.domain.errors import NotFoundError


def _app(metrics: ApiMetrics) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.get("/v1/x/{item_id}")
    async def read_item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise NotFoundError(f"no item {item_id!r}")
        return {"id": item_id}

    @app.get("/v1/in-flight")
    async def in_flight() -> dict[str, float | None]:
        return {"value": metrics.registry.get_sample_value("stockpred_api_requests_in_flight")}

    @app.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    @app.get("/metrics")
    async def exposition() -> object:
        return metrics_response(metrics)

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        metrics.websocket_opened()
        await websocket.send_text("hello")
        await websocket.close()

    return app


def _requests(metrics: ApiMetrics, *, method: str, route: str, status: int) -> float:
    value = metrics.registry.get_sample_value(
        "stockpred_api_requests_total",
        {"method": method, "route": route, "status": str(status)},
    )
    return value or 0.0


def test_requests_to_two_ids_count_under_one_route_template() -> None:
    metrics = ApiMetrics()
    with TestClient(_app(metrics)) as client:
        client.get("/v1/x/AAPL")
        client.get("/v1/x/MSFT")

    assert _requests(metrics, method="GET", route="/v1/x/{item_id}", status=200) == 2
    count = metrics.registry.get_sample_value(
        "stockpred_api_request_duration_seconds_count",
        {"method": "GET", "route": "/v1/x/{item_id}"},
    )
    assert count == 2


def test_an_unknown_path_is_counted_as_unmatched_not_by_its_raw_path() -> None:
    metrics = ApiMetrics()
    with TestClient(_app(metrics)) as client:
        answer = client.get("/no/such/path/12345")
        text = client.get("/metrics").text

    assert answer.status_code == 404
    assert _requests(metrics, method="GET", route=UNMATCHED_ROUTE, status=404) == 1
    assert "/no/such/path" not in text


def test_the_status_is_the_one_sent_after_error_handlers_ran() -> None:
    metrics = ApiMetrics()
    with TestClient(_app(metrics), raise_server_exceptions=False) as client:
        client.get("/v1/x/missing")
        client.get("/v1/broken")

    assert _requests(metrics, method="GET", route="/v1/x/{item_id}", status=404) == 1
    assert _requests(metrics, method="GET", route="/v1/broken", status=500) == 1


def test_a_made_up_method_is_counted_as_other() -> None:
    metrics = ApiMetrics()
    with TestClient(_app(metrics)) as client:
        client.request("BREW", "/v1/x/AAPL")

    assert _requests(metrics, method="other", route="/v1/x/{item_id}", status=405) == 1


def test_in_flight_counts_the_request_being_answered_and_returns_to_zero() -> None:
    metrics = ApiMetrics()
    with TestClient(_app(metrics)) as client:
        during = client.get("/v1/in-flight").json()["value"]

    assert during == 1
    assert metrics.registry.get_sample_value("stockpred_api_requests_in_flight") == 0


def test_websockets_pass_through_and_are_not_counted_as_requests() -> None:
    metrics = ApiMetrics()
    with TestClient(_app(metrics)) as client, client.websocket_connect("/v1/stream") as socket:
        assert socket.receive_text() == "hello"

    assert metrics.registry.get_sample_value("stockpred_api_websocket_connections") == 1
    families = {f.name: f for f in text_string_to_metric_families(_exposition(metrics))}
    assert not [s for s in families["stockpred_api_requests"].samples if "stream" in str(s)]


def _exposition(metrics: ApiMetrics) -> str:
    body = metrics_response(metrics).body
    return bytes(body).decode()


def test_the_exposition_parses_and_holds_every_family() -> None:
    metrics = ApiMetrics()
    with TestClient(_app(metrics)) as client:
        client.get("/v1/x/AAPL")
        answer = client.get("/metrics")
    metrics.record_prediction(horizon=5, model_version="3")
    metrics.record_prediction(horizon=5, model_version="3")
    metrics.record_webhook_delivery("delivered")
    metrics.websocket_opened()
    metrics.websocket_opened()
    metrics.websocket_closed()

    families = {f.name: f for f in text_string_to_metric_families(_exposition(metrics))}

    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert {
        "stockpred_api_requests",
        "stockpred_api_request_duration_seconds",
        "stockpred_api_requests_in_flight",
        "stockpred_api_predictions",
        "stockpred_api_websocket_connections",
        "stockpred_api_webhook_deliveries",
        "process_cpu_seconds",
    } <= set(families)
    predictions = {
        (s.labels["horizon"], s.labels["model_version"]): s.value
        for s in families["stockpred_api_predictions"].samples
        if s.name.endswith("_total")
    }
    assert predictions == {("5", "3"): 2.0}
    assert families["stockpred_api_websocket_connections"].samples[0].value == 1.0
    buckets = [
        float(s.labels["le"])
        for s in families["stockpred_api_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    ]
    assert min(buckets) == pytest.approx(0.0005)
    assert 1.0 in buckets


def test_two_instances_keep_separate_registries() -> None:
    first, second = ApiMetrics(), ApiMetrics()

    first.record_webhook_delivery("failed")

    assert (
        first.registry.get_sample_value(
            "stockpred_api_webhook_deliveries_total", {"outcome": "failed"}
        )
        == 1
    )
    assert (
        second.registry.get_sample_value(
            "stockpred_api_webhook_deliveries_total", {"outcome": "failed"}
        )
        is None
    )


class _Route:
    path_format = "/v1/predictions/{ticker}"


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    scope["route"] = _Route
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_middleware_cost_per_request_is_reported() -> None:
    metrics = ApiMetrics()
    wrapped = MetricsMiddleware(_answer, metrics=metrics)
    count = 20_000

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    async def run(app: MetricsMiddleware | object) -> float:
        assert callable(app)
        started = time.perf_counter()
        for _ in range(count):
            await app({"type": "http", "method": "GET", "path": "/v1/p/AAPL"}, receive, send)
        return time.perf_counter() - started

    bare = asyncio.run(run(_answer))
    measured = asyncio.run(run(wrapped))

    print(f"\nmetrics middleware: {(measured - bare) / count * 1e6:.2f} µs per request")
    assert _requests(metrics, method="GET", route=_Route.path_format, status=200) == count


def test_the_documentation_routes_keep_their_own_label() -> None:
    metrics = ApiMetrics()
    with TestClient(_app(metrics)) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200

    assert _requests(metrics, method="GET", route="/openapi.json", status=200) == 1
    assert _requests(metrics, method="GET", route="/docs", status=200) == 1
    assert _requests(metrics, method="GET", route=UNMATCHED_ROUTE, status=200) == 0


class _Version:
    def __init__(self, version: int) -> None:
        self.version = version


class _Champion:
    def __init__(self, horizon: int, version: int) -> None:
        self.horizon = horizon
        self.version = _Version(version)
        self.kind = "lightgbm"
        self.feature_set = "daily_v1"


def test_model_info_names_each_served_champion_and_follows_a_promotion() -> None:
    served = {5: _Champion(5, 2), 1: _Champion(1, 4)}
    # A lambda: the test rebinds ``served`` as a promotion replaces the champion mapping.
    metrics = ApiMetrics(process_metrics=False, champions=lambda: served.values())  # noqa: PLW0108

    def info(horizon: str, version: str) -> float | None:
        labels = {"horizon": horizon, "model_version": version, "model": "lightgbm",
                  "feature_set": "daily_v1"}  # fmt: skip
        return metrics.registry.get_sample_value("stockpred_model_info", labels)

    assert info("5", "2") == 1
    assert info("1", "4") == 1
    served = {**served, 5: _Champion(5, 3)}
    assert info("5", "3") == 1
    assert info("5", "2") is None


def test_a_scrape_forgets_the_live_gauges_of_dead_workers_and_keeps_their_counters(
    tmp_path: Path,
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for name in (f"gauge_livesum_{dead.pid}.db", f"counter_{dead.pid}.db",
                 f"gauge_livesum_{os.getpid()}.db"):  # fmt: skip
        (tmp_path / name).write_bytes(b"")

    forgotten = forget_dead_workers(tmp_path)

    assert forgotten == [dead.pid]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead.pid}.db", f"gauge_livesum_{os.getpid()}.db"]
    )

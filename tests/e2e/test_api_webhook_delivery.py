"""Webhooks end to end: a receiver registered through the API gets, when the champion moves and
the background refresh finds new forecasts, one signed POST for the ticker it follows and none
for the others; a receiver that fails once gets the event on the retry.

The receiver is a real HTTP server on loopback that checks the signature itself with ``hmac``,
as a trading platform would, without stockpred's code.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stockpred.api.app import build_services
from stockpred.api.background import forecast_event_id, refresh_once
from stockpred.api.services import ApiServices
from stockpred.compose import open_registry
from stockpred.notify.webhooks import WebhookService
from stockpred.registry.base import model_name
from stockpred.settings import load_settings
from support.api import bearer, token_for

HORIZON = 5
# How far a delivery's signed timestamp may be from the receiver's clock.
TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Delivery:
    """One POST as the receiver got it: the raw body, the headers (names lower-cased) and
    whether its signature checked out when it arrived."""

    body: bytes
    headers: dict[str, str]
    signed: bool

    @property
    def event(self) -> dict[str, object]:
        parsed: dict[str, object] = json.loads(self.body)
        return parsed


class Receiver:
    """A trading platform's webhook endpoint on 127.0.0.1: checks each POST's signature with
    ``secret`` and records it; answers 401 to a bad signature, else the statuses of
    ``answers`` in turn, then 200."""

    def __init__(self, *, secret: str, answers: list[int]) -> None:
        self.deliveries: list[Delivery] = []
        self._answers = list(answers)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0 (the default) closes the connection after each answer, so no pooled
            # connection outlives the event loop that opened it.
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                signed = signature_is_valid(
                    body, headers=headers, secret=secret, now=datetime.now(UTC)
                )
                with receiver._lock:
                    receiver.deliveries.append(Delivery(body=body, headers=headers, signed=signed))
                    answer = receiver._answers.pop(0) if receiver._answers else 200
                self.send_response(answer if signed else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/stockpred"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def signature_is_valid(body: bytes, *, headers: dict[str, str], secret: str, now: datetime) -> bool:
    """The receiver's check, written from the documented scheme rather than with stockpred's
    code: ``X-Stockpred-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of b"<t>." + body>``
    over the exact bytes received, with ``t`` recent."""
    fields = dict(
        part.strip().partition("=")[::2]
        for part in headers.get("x-stockpred-signature", "").split(",")
    )
    if not fields.get("t", "").isdigit() or not fields.get("v1"):
        return False
    timestamp = int(fields["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(now.timestamp() - timestamp) <= TOLERANCE_SECONDS
    return fresh and hmac.compare_digest(expected.hexdigest(), fields["v1"])


@pytest.fixture
def services(served_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ApiServices:
    """The e2e services with their own API database, so the webhooks registered here never
    receive the events of other tests (nor theirs these), and a webhook service that retries
    after 10 ms instead of seconds."""
    monkeypatch.setenv("STOCKPRED_HOME", str(served_home))
    monkeypatch.setenv("STOCKPRED_API_RATE_LIMIT", "1000/second")
    monkeypatch.setenv("STOCKPRED_API_DATABASE", f"sqlite:///{tmp_path / 'api.db'}")
    built = build_services(load_settings())
    asyncio.run(built.webhooks.aclose())
    built.webhooks = WebhookService(
        built.settings.api_database_url,
        clock=built.clock,
        backoff_seconds=0.01,
        allow_private_addresses=True,
    )
    return built


def register_webhook(client: TestClient, services: ApiServices, *, url: str, secret: str) -> None:
    token = token_for(client, services, "webhooks:write")
    answer = client.post(
        "/v1/webhooks",
        json={"url": url, "tickers": ["aapl"], "secret": secret},
        headers=bearer(token),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["tickers"] == ["AAPL"]


@contextmanager
def champion_moved(services: ApiServices, scratch: Path) -> Iterator[int]:
    """A new version of the horizon's champion, promoted for the block and rolled back after;
    yields its version. Every ticker's forecast of that horizon is new under it."""
    registry = open_registry(services.settings)
    name = model_name(HORIZON)
    champion = registry.champion(name)
    assert champion is not None
    folder = registry.download(name, champion.version, scratch)
    metadata = {k: v for k, v in champion.metadata.items() if k != "metrics"}
    second = registry.register(name, folder, metadata=dict(metadata), metrics=champion.metrics)
    registry.promote(name, second.version, reason="test: webhook delivery")
    try:
        yield second.version
    finally:
        registry.rollback(name, reason="test: restore after webhook delivery")


async def refresh_and_deliver(services: ApiServices) -> int:
    """One background pass and the deliveries it scheduled, on one event loop (the webhook
    service's HTTP client belongs to the loop that first uses it)."""
    pushed = await refresh_once(services)
    await services.webhooks.drain()
    return pushed


def test_a_new_forecast_is_delivered_signed_to_the_webhook_of_its_ticker_only(
    client: TestClient, services: ApiServices, tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(32)
    with Receiver(secret=secret, answers=[]) as receiver:
        register_webhook(client, services, url=receiver.url, secret=secret)
        with champion_moved(services, tmp_path / "copy") as version:
            pushed = asyncio.run(refresh_and_deliver(services))

    # Forecasts of several tickers were published; only AAPL's reached the receiver.
    assert pushed >= 5
    assert len(receiver.deliveries) == 1
    delivery = receiver.deliveries[0]
    event = delivery.event
    assert (event["ticker"], event["horizon"]) == ("AAPL", HORIZON)
    assert isinstance(event["model"], dict)
    assert event["model"]["version"] == str(version)
    assert delivery.headers["content-type"] == "application/json"
    # The id names the forecast, so a second worker publishing it sends the same id.
    forecast = services.serving.forecast("AAPL", HORIZON).forecast
    assert delivery.headers["x-stockpred-event-id"] == forecast_event_id(forecast)
    assert delivery.signed
    # The receiver's check is not a rubber stamp: another key or one changed byte fails it.
    now = datetime.now(UTC)
    assert not signature_is_valid(
        delivery.body, headers=delivery.headers, secret=secret + "x", now=now
    )
    assert not signature_is_valid(
        delivery.body.replace(b"AAPL", b"MSFT"), headers=delivery.headers, secret=secret, now=now
    )


def test_a_receiver_that_fails_once_gets_the_event_on_the_retry(
    client: TestClient, services: ApiServices, tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(32)
    with Receiver(secret=secret, answers=[500]) as receiver:
        register_webhook(client, services, url=receiver.url, secret=secret)
        with champion_moved(services, tmp_path / "copy") as version:
            asyncio.run(refresh_and_deliver(services))

    first, retry = receiver.deliveries
    assert retry.body == first.body
    assert retry.headers["x-stockpred-event-id"] == first.headers["x-stockpred-event-id"]
    assert retry.event["ticker"] == "AAPL"
    assert isinstance(retry.event["model"], dict)
    assert retry.event["model"]["version"] == str(version)
    assert first.signed
    assert retry.signed
    # Delivered on the retry: nothing was parked.
    assert services.webhooks.dead_letters() == []

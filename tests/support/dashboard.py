"""Test support for the dashboard: its API client and live feed on FastAPI's TestClient (the
real API app in process), and waiting for the feed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress

import anyio
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from stockpred.api.services import ApiServices
from stockpred.dashboard.client import ApiClient, Credentials
from stockpred.dashboard.context import Dashboard
from stockpred.dashboard.live import Connection, Connector, LiveBuffer, LiveFeed


def dashboard_credentials(services: ApiServices) -> Credentials:
    """A new API client with the scopes the dashboard needs (what `serve --demo` creates)."""
    created = services.clients.create(name="dashboard", scopes=["predictions:read", "stream:read"])
    return Credentials(client_id=created.client.client_id, client_secret=created.secret)


class _TestClientConnection:
    """The live feed's :class:`Connection` over a TestClient websocket session."""

    def __init__(self, stack: ExitStack, session: WebSocketTestSession) -> None:
        self._stack = stack
        self._session = session
        self._closed = False

    def send(self, text: str) -> None:
        self._session.send_text(text)

    def receive(self, *, timeout: float) -> str | None:
        if self._closed:
            raise ConnectionError("closed")
        # The session has no receive timeout of its own; wait on its queue in its portal.
        receiver = self._session._send_rx

        async def next_message() -> dict[str, object] | None:
            with anyio.move_on_after(timeout):
                message: dict[str, object] = await receiver.receive()
                return message
            return None

        message = self._session.portal.call(next_message)
        if message is None:
            return None
        if message.get("type") == "websocket.close":
            self._closed = True
            raise ConnectionError(f"closed with {message.get('code')}")
        text = message.get("text")
        return text if isinstance(text, str) else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with suppress(WebSocketDisconnect, RuntimeError):
            self._stack.close()


def connector_through(client: TestClient) -> Connector:
    """Opens the API's /v1/stream through ``client`` (no network)."""

    def connect(path: str) -> Connection:
        stack = ExitStack()
        session = stack.enter_context(client.websocket_connect(path))
        return _TestClientConnection(stack, session)

    return connect


def dashboard_on(client: TestClient, services: ApiServices) -> Dashboard:
    """A dashboard reading the API app behind ``client`` as a new client; no live feed."""
    api = ApiClient(http=client, credentials=dashboard_credentials(services))
    return Dashboard(api=api, live=LiveBuffer())


@contextmanager
def live_dashboard(client: TestClient, services: ApiServices) -> Iterator[Dashboard]:
    """A dashboard whose live feed holds the API's websocket (through ``client``), stopped on
    exit."""
    api = ApiClient(http=client, credentials=dashboard_credentials(services))
    buffer = LiveBuffer()
    feed = LiveFeed(
        connect=connector_through(client),
        token=lambda renew: api.token(renew=renew),
        tickers=api.served_tickers,
        buffer=buffer,
        poll_seconds=0.1,
    )
    feed.start()
    try:
        yield Dashboard(api=api, live=buffer, feed=feed)
    finally:
        feed.stop()


def wait_for(condition: Callable[[], bool], *, seconds: float = 20.0, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:g} s for {what}")
        time.sleep(0.05)

"""New forecasts as the API streams them: a background thread holds the ``/v1/stream``
websocket, reconnects with backoff when it drops, and keeps the latest forecast of each
(ticker, horizon) in a thread-safe buffer the pages read.

The websocket itself sits behind :class:`Connection` (send, receive with a timeout, close), so
the same feed runs over the ``websockets`` client against a server and over FastAPI's
TestClient in tests.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

from stockpred.dashboard.records import Forecast, forecast_from_json, now_utc

__all__ = [
    "Backoff",
    "Connection",
    "Connector",
    "LiveBuffer",
    "LiveFeed",
    "LiveForecast",
    "LiveState",
    "stream_path",
    "websocket_connector",
]

_LOG = logging.getLogger("stockpred.dashboard")
_FORECAST_TYPES = frozenset({"snapshot", "prediction", "provisional"})


class Connection(Protocol):
    """One open websocket."""

    def send(self, text: str) -> None: ...

    def receive(self, *, timeout: float) -> str | None:
        """The next text message, or None when none came within ``timeout`` seconds. Raises
        ConnectionError once the socket is closed."""
        ...

    def close(self) -> None: ...


# Opens a websocket to a path of the API ("/v1/stream?tickers=...").
Connector = Callable[[str], Connection]


def stream_path(tickers: Sequence[str]) -> str:
    """The stream's path for ``tickers`` (every horizon)."""
    return "/v1/stream?tickers=" + quote(",".join(tickers), safe=",")


@dataclass(frozen=True, slots=True)
class LiveForecast:
    """A streamed forecast and when it arrived."""

    forecast: Forecast
    received_at: datetime


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the buffer holds and how the stream is doing: ``connected``, when a message last
    arrived, how many forecasts came, and the last error (None while healthy)."""

    forecasts: dict[tuple[str, int], LiveForecast]
    connected: bool
    last_message_at: datetime | None
    received: int
    error: str | None


@dataclass
class LiveBuffer:
    """The latest forecast of each (ticker, horizon), written by the feed's thread and read by
    the pages'. The last one to arrive is held: the stream delivers in the order forecasts
    were made (a replay's included)."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _forecasts: dict[tuple[str, int], LiveForecast] = field(default_factory=dict)
    _connected: bool = False
    _last_message_at: datetime | None = None
    _received: int = 0
    _error: str | None = None

    def put(self, forecast: Forecast, *, at: datetime) -> None:
        with self._lock:
            self._forecasts[(forecast.ticker, forecast.horizon)] = LiveForecast(forecast, at)
            self._received += 1
            self._last_message_at = at

    def heard(self, *, at: datetime) -> None:
        """A message that carried no forecast (the stream is alive)."""
        with self._lock:
            self._last_message_at = at

    def set_connected(self, connected: bool, *, error: str | None = None) -> None:
        with self._lock:
            self._connected = connected
            self._error = error

    def state(self) -> LiveState:
        with self._lock:
            return LiveState(
                forecasts=dict(self._forecasts),
                connected=self._connected,
                last_message_at=self._last_message_at,
                received=self._received,
                error=self._error,
            )


@dataclass(frozen=True, slots=True)
class Backoff:
    """Seconds to wait before reconnect attempt ``n`` (0-based): doubling from ``first`` up
    to ``most``."""

    first: float = 1.0
    most: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.most, self.first * 2 ** min(attempt, 16)))


class LiveFeed:
    """The thread that keeps the websocket open and fills ``buffer``.

    ``tickers`` and ``token`` are asked for at every (re)connect: the served tickers may
    change, and a token may expire while the socket is down (``token(True)`` asks for a new
    one after the API refused the last).
    """

    def __init__(
        self,
        *,
        connect: Connector,
        token: Callable[[bool], str],
        tickers: Callable[[], Sequence[str]],
        buffer: LiveBuffer,
        clock: Callable[[], datetime] = now_utc,
        backoff: Backoff = Backoff(),
        poll_seconds: float = 1.0,
    ) -> None:
        self._connect = connect
        self._token = token
        self._tickers = tickers
        self.buffer = buffer
        self._clock = clock
        self._backoff = backoff
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: Connection | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stockpred-live", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        self._stop.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.close()
            except Exception:  # closing a broken socket may fail: it is gone either way
                _LOG.debug("closing the stream failed", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        attempt = 0
        renew = False
        while not self._stop.is_set():
            try:
                heard = self._session(renew=renew)
                renew = False
            except _RefusedError as refusal:
                heard = False
                renew = refusal.auth
                self.buffer.set_connected(False, error=str(refusal))
            except Exception as exc:  # any failure of the socket or the API: retry later
                heard = False
                self.buffer.set_connected(False, error=f"{type(exc).__name__}: {exc}")
            attempt = 0 if heard else attempt + 1
            if self._stop.wait(self._backoff.delay(max(0, attempt - 1))):
                break
        self.buffer.set_connected(False, error=self.buffer.state().error)

    def _session(self, *, renew: bool) -> bool:
        """One connection, until it closes; True when it delivered anything."""
        tickers = list(self._tickers())
        if not tickers:
            raise _RefusedError("the API serves no ticker yet", auth=False)
        connection = self._connect(stream_path(tickers))
        self._connection = connection
        heard = False
        try:
            connection.send(json.dumps({"type": "auth", "token": self._token(renew)}))
            self.buffer.set_connected(True)
            while not self._stop.is_set():
                text = connection.receive(timeout=self._poll)
                if text is None:
                    continue
                heard = True
                self._handle(text)
        finally:
            self._connection = None
            try:
                connection.close()
            except Exception:
                _LOG.debug("closing the stream failed", exc_info=True)
        return heard

    def _handle(self, text: str) -> None:
        now = self._clock()
        try:
            message = json.loads(text)
        except ValueError:
            self.buffer.heard(at=now)
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "error":
            code = str(message.get("code", ""))
            raise _RefusedError(
                f"the stream refused the dashboard: {message.get('message', code)}",
                auth=code == "auth_error",
            )
        if kind in _FORECAST_TYPES:
            try:
                self.buffer.put(forecast_from_json(message), at=now)
            except ValueError:
                _LOG.warning("a stream message was not a forecast: %.200s", text)
                self.buffer.heard(at=now)
        else:
            self.buffer.heard(at=now)


class _RefusedError(Exception):
    def __init__(self, message: str, *, auth: bool) -> None:
        super().__init__(message)
        self.auth = auth


class _WebsocketConnection:
    """:class:`Connection` over the ``websockets`` library's synchronous client."""

    def __init__(self, url: str, *, open_timeout: float) -> None:
        from websockets.sync.client import connect

        # Entered as a context manager: websockets 17 warns about a bare connect().
        self._closing = ExitStack()
        self._socket = self._closing.enter_context(
            connect(url, open_timeout=open_timeout, close_timeout=2)
        )

    def send(self, text: str) -> None:
        self._socket.send(text)

    def receive(self, *, timeout: float) -> str | None:
        from websockets.exceptions import ConnectionClosed

        try:
            message = self._socket.recv(timeout=timeout)
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            raise ConnectionError(f"the stream closed ({exc})") from exc
        return message if isinstance(message, str) else message.decode()

    def close(self) -> None:
        self._closing.close()


def websocket_connector(base_url: str, *, open_timeout: float = 10.0) -> Connector:
    """Opens websockets to the API at ``base_url`` (http:// becomes ws://, https:// wss://)."""
    root = base_url.rstrip("/")
    if root.startswith("https://"):
        root = "wss://" + root.removeprefix("https://")
    elif root.startswith("http://"):
        root = "ws://" + root.removeprefix("http://")

    def connect(path: str) -> Connection:
        return _WebsocketConnection(root + path, open_timeout=open_timeout)

    return connect

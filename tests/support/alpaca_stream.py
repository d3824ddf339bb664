"""Test support: a websocket server on loopback that speaks Alpaca's market-data v2 stream.

Each connection is answered by the next scripted session (the last one repeats): the handshake
as Alpaca does it (connected, auth, subscription), then the session's frames, then an ending:
a clean close, an abrupt abort, hanging on, or freezing (no more reads, so pings go
unanswered, as over a dead network).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

KEY_ID = "test-key-id"
SECRET_KEY = "test-secret-key"


@dataclass
class Session:
    """What one connection does after subscribing; ``refuse`` answers the auth with that
    error code instead."""

    # Each a frame (a JSON array of objects) to send, or a pause in seconds.
    frames: list[list[dict[str, object]] | float] = field(default_factory=list)
    end: Literal["close", "abort", "hang", "freeze"] = "hang"
    refuse: int | None = None


@dataclass
class Seen:
    """What the server received on one connection."""

    auth: dict[str, object] | None = None
    subscribe: dict[str, object] | None = None


class FakeAlpacaStream:
    def __init__(self, *sessions: Session) -> None:
        self.sessions = list(sessions) or [Session()]
        self.seen: list[Seen] = []
        self.url = ""
        self._connections: list[ServerConnection] = []

    def _next(self) -> Session:
        return self.sessions.pop(0) if len(self.sessions) > 1 else self.sessions[0]

    async def _handle(self, ws: ServerConnection) -> None:
        self._connections.append(ws)
        seen = Seen()
        self.seen.append(seen)
        session = self._next()
        try:
            await ws.send(json.dumps([{"T": "success", "msg": "connected"}]))
            seen.auth = json.loads(await ws.recv())
            good = seen.auth == {"action": "auth", "key": KEY_ID, "secret": SECRET_KEY}
            if session.refuse is not None or not good:
                code = session.refuse or 402
                await ws.send(json.dumps([{"T": "error", "code": code, "msg": "refused"}]))
                await ws.close()
                return
            await ws.send(json.dumps([{"T": "success", "msg": "authenticated"}]))
            seen.subscribe = json.loads(await ws.recv())
            reply = {"T": "subscription", "quotes": [], **seen.subscribe}
            reply.pop("action", None)
            await ws.send(json.dumps([reply]))
            for frame in session.frames:
                if isinstance(frame, float):
                    await asyncio.sleep(frame)
                else:
                    await ws.send(json.dumps(frame))
            if session.end == "close":
                await ws.close()
            elif session.end == "abort":
                ws.transport.abort()
            elif session.end == "freeze":
                # Stop reading: the client's pings are never answered.
                ws.transport.pause_reading()
                await ws.wait_closed()
            else:
                await ws.wait_closed()
        except ConnectionClosed:
            pass

    def abort_all(self) -> None:
        for ws in self._connections:
            ws.transport.abort()


@asynccontextmanager
async def alpaca_stream(*sessions: Session) -> AsyncIterator[FakeAlpacaStream]:
    """Serve ``sessions`` on 127.0.0.1 (a free port) for the duration of the block."""
    fake = FakeAlpacaStream(*sessions)
    async with serve(fake._handle, "127.0.0.1", 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        fake.url = f"ws://127.0.0.1:{port}/v2/iex"
        try:
            yield fake
        finally:
            fake.abort_all()


def minute(hhmm: str, *, day: str = "2021-02-22") -> datetime:
    """``"15:51"`` as that UTC minute of ``day``."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00").astimezone(UTC)


def wire_bar(symbol: str, start: str, close: float, *, volume: int = 100) -> dict[str, object]:
    """A ``{"T":"b"}`` stream bar starting at ``start`` (HH:MM), around ``close``."""
    return {
        "T": "b",
        "S": symbol,
        "o": close - 0.5,
        "h": close + 1.0,
        "l": close - 1.0,
        "c": close,
        "v": volume,
        "t": f"2021-02-22T{start}:00Z",
        "n": 10,
        "vw": close - 0.1,
    }


def rest_bar(start: str, close: float, *, volume: int = 100) -> dict[str, object]:
    """The same bar as ``/v2/stocks/bars`` sends it (no T, no S)."""
    bar = wire_bar("X", start, close, volume=volume)
    return {k: v for k, v in bar.items() if k not in ("T", "S")}


def wire_trade(symbol: str, at: str, price: float, size: int) -> dict[str, object]:
    """A ``{"T":"t"}`` trade at ``at`` (HH:MM:SS.fff)."""
    return {
        "T": "t",
        "S": symbol,
        "i": 96921,
        "x": "D",
        "p": price,
        "s": size,
        "t": f"2021-02-22T{at}Z",
        "c": ["@", "I"],
        "z": "C",
    }

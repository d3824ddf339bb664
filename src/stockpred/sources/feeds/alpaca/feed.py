"""``AlpacaFeed``: Alpaca's live minute bars as a :class:`~stockpred.sources.feeds.base.Feed`.

One connection, authenticated and subscribed; when it drops (the server closes, the network
fails, a ping goes unanswered) the feed reconnects with capped exponential backoff, and the
minutes missed meanwhile are fetched from the REST history before the live bars that arrived
in the meantime; until then every batch names the symbols ``degraded``. Refused keys, a plan
without the feed and the connection limit end the feed with an error saying what to fix.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
)
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from stockpred.domain.errors import (
    ConfigurationError,
    InvalidInputError,
    MalformedResponseError,
    ProviderAuthError,
    ProviderUnavailableError,
)
from stockpred.domain.records import Bar
from stockpred.sources.feeds.alpaca.history import AlpacaHistory
from stockpred.sources.feeds.alpaca.wire import (
    KEY_SETTINGS,
    PROVIDER,
    RETRYABLE_CODES,
    bar_from_wire,
    parse_frame,
    refusal_error,
    trade_from_wire,
)
from stockpred.sources.feeds.base import FeedBatch, FeedClosedError, pause, until_closed
from stockpred.sources.feeds.gaps import GapTracker
from stockpred.sources.feeds.policy import StreamPolicy
from stockpred.sources.feeds.trade_bars import MinuteBarBuilder, floor_minute

__all__ = ["REST_URL", "STREAM_URL", "AlpacaFeed"]

STREAM_URL = "wss://stream.data.alpaca.markets/v2/iex"
REST_URL = "https://data.alpaca.markets"
_LOG = logging.getLogger("stockpred.sources.feeds.alpaca")
# Right after our own reconnect Alpaca may still count the old connection: a 406 then is
# retried this many times before it is believed.
_CONNECTION_LIMIT_RETRIES = 3
_T = TypeVar("_T")


class _LostError(Exception):
    """The connection failed or dropped; worth another one."""


class _RefusedError(Exception):
    """The server sent ``{"T":"error"}``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _refusal(item: Mapping[str, object]) -> _RefusedError:
    code = item.get("code")
    return _RefusedError(code if isinstance(code, int) else 0, str(item.get("msg", "")))


class AlpacaFeed:
    """Minute bars of ``symbols`` as they happen, from Alpaca's v2 stream.

    ``from_trades``: True (every symbol) or the symbols whose bars are built from the
    ``trades`` channel instead of taken from the ``bars`` channel: a bar as soon as the next
    minute's first trade arrives, or ``policy.trade_grace_s`` after its minute ended. The
    minute under way at each (re)subscription missed its first trades, so it is not built:
    the first one comes from nowhere, a reconnect's comes from the REST history.
    ``history_feed``: the ``feed`` parameter of REST requests; match the stream's (``iex``,
    ``sip``) so backfilled bars are the same data. ``clock`` stamps ``ingested_at`` and tells
    the gap's end; ``sleep`` waits out backoffs (both injected in tests).
    """

    name = PROVIDER

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        key_id: str,
        secret_key: str,
        stream_url: str = STREAM_URL,
        rest_url: str = REST_URL,
        from_trades: bool | Collection[str] = False,
        history_feed: str | None = "iex",
        policy: StreamPolicy | None = None,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._symbols = tuple(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
        if not self._symbols:
            raise InvalidInputError("an Alpaca feed needs at least one symbol; got none")
        if not key_id or not secret_key:
            raise ProviderAuthError(
                f"alpaca needs an API key pair; set {KEY_SETTINGS}", provider=PROVIDER
            )
        if not stream_url.startswith(("ws://", "wss://")):
            raise ConfigurationError(f"alpaca stream URL {stream_url!r} is not ws:// or wss://")
        if isinstance(from_trades, bool):
            traded = set(self._symbols) if from_trades else set()
        else:
            traded = {s.strip().upper() for s in from_trades}
            if not traded <= set(self._symbols):
                raise InvalidInputError(
                    f"from_trades names {sorted(traded - set(self._symbols))}, which the feed "
                    f"does not subscribe; its symbols: {list(self._symbols)}"
                )
        self._traded = tuple(s for s in self._symbols if s in traded)
        self._barred = tuple(s for s in self._symbols if s not in traded)
        self._key_id = key_id
        self._secret_key = secret_key
        self._stream_url = stream_url
        self._rest_url = rest_url
        self._history_feed = history_feed
        self._policy = policy or StreamPolicy()
        self._clock = clock
        self._sleep = sleep
        self._closed = asyncio.Event()
        self._connection: ClientConnection | None = None

    async def close(self) -> None:
        """Stop: ``batches`` ends soon after; idempotent."""
        self._closed.set()
        if self._connection is not None:
            await self._connection.close()

    async def batches(self) -> AsyncIterator[FeedBatch]:
        """Bars as they arrive until :meth:`close`; after a reconnect, first one batch with no
        bars naming every symbol degraded, then (once fetched) the missed bars."""
        tracker = GapTracker(self._symbols)
        builder = MinuteBarBuilder(
            source=PROVIDER, grace=timedelta(seconds=self._policy.trade_grace_s)
        )
        history = AlpacaHistory(
            rest_url=self._rest_url,
            key_id=self._key_id,
            secret_key=self._secret_key,
            feed=self._history_feed,
            timeout_s=self._policy.rest_timeout_s,
            clock=self._clock,
        )
        failures = 0
        was_live = False
        try:
            while not self._closed.is_set():
                try:
                    connection, leftovers = await self._until_closed(self._open())
                except FeedClosedError:
                    return
                except (_LostError, _RefusedError) as exc:
                    self._check_refusal(exc, failures=failures, was_live=was_live)
                    failures += 1
                    self._check_attempts(exc, failures=failures)
                    if not await self._pause(self._policy.backoff(failures)):
                        return
                    continue
                failures = 0
                now = self._clock()
                # Bars closing up to `until` were sent before this subscription: history's.
                until = builder.begin(list(self._traded), now) if self._traded else now
                gap = None
                if was_live:
                    start = floor_minute(min(tracker.gap_start(s) for s in self._symbols))
                    gap = (start, until)
                else:
                    tracker.start(now)
                was_live = True
                self._connection = connection
                stream = self._receive(
                    connection,
                    leftovers=leftovers,
                    tracker=tracker,
                    builder=builder,
                    history=history,
                    gap=gap,
                )
                try:
                    async with aclosing(stream):
                        async for batch in stream:
                            yield batch
                except (_LostError, _RefusedError) as exc:
                    self._check_refusal(exc, failures=0, was_live=True)
                    _LOG.warning("alpaca stream lost (%s); reconnecting", exc)
                finally:
                    self._connection = None
                    await connection.close()
                if self._closed.is_set():
                    return
                tracker.interrupt()
                yield FeedBatch((), tracker.degraded)
                failures = 1
                if not await self._pause(self._policy.backoff(failures)):
                    return
        finally:
            await history.aclose()

    def _check_refusal(self, exc: Exception, *, failures: int, was_live: bool) -> None:
        """Raise the stockpred error for a refusal that must end the feed, not be retried."""
        if not isinstance(exc, _RefusedError):
            return
        retry = exc.code in RETRYABLE_CODES or (
            exc.code == 406 and was_live and failures < _CONNECTION_LIMIT_RETRIES
        )
        if not retry:
            raise refusal_error(exc.code, exc.message) from None

    def _check_attempts(self, exc: Exception, *, failures: int) -> None:
        """Raise once ``failures`` consecutive attempts to connect reach the policy's limit."""
        limit = self._policy.max_attempts
        if limit is not None and failures >= limit:
            raise ProviderUnavailableError(
                f"alpaca stream {self._stream_url} failed {failures} times in a row (last: "
                f"{exc}); check the network and Alpaca's status page, then start the feed again",
                provider=PROVIDER,
            ) from None
        _LOG.warning("alpaca stream attempt %d failed: %s", failures, exc)

    async def _open(self) -> tuple[ClientConnection, list[Mapping[str, object]]]:
        """Connect, authenticate, subscribe; returns the connection and any data that came
        with the subscription's confirmation."""
        policy = self._policy
        try:
            connection = await connect(
                self._stream_url,
                ping_interval=policy.ping_interval_s,
                ping_timeout=policy.ping_timeout_s,
                open_timeout=policy.open_timeout_s,
                close_timeout=policy.close_timeout_s,
                max_size=policy.max_message_bytes,
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise _LostError(f"cannot connect to {self._stream_url}: {exc!r}") from exc
        try:
            await self._expect(connection, "connected")
            auth = {"action": "auth", "key": self._key_id, "secret": self._secret_key}
            await connection.send(json.dumps(auth))
            await self._expect(connection, "authenticated")
            subscribe = {"action": "subscribe", "bars": [*self._barred], "trades": [*self._traded]}
            await connection.send(json.dumps(subscribe))
            leftovers = await self._expect(connection, "subscription")
        except ConnectionClosed as exc:
            await connection.close()
            raise _LostError(f"the server closed the connection while opening: {exc}") from exc
        except TimeoutError as exc:
            await connection.close()
            raise _LostError(
                f"no answer within {policy.open_timeout_s:g} s while opening the stream"
            ) from exc
        except BaseException:
            await connection.close()
            raise
        return connection, leftovers

    async def _expect(
        self, connection: ClientConnection, wanted: str
    ) -> list[Mapping[str, object]]:
        """Read until ``{"T":"success","msg":wanted}`` (or ``{"T":wanted}``); what followed it
        in the same frame is returned."""
        async with asyncio.timeout(self._policy.open_timeout_s):
            while True:
                items = parse_frame(await connection.recv())
                for index, item in enumerate(items):
                    kind = item.get("T")
                    if kind == "error":
                        raise _refusal(item)
                    if kind == wanted or (kind == "success" and item.get("msg") == wanted):
                        return items[index + 1 :]

    async def _receive(
        self,
        connection: ClientConnection,
        *,
        leftovers: list[Mapping[str, object]],
        tracker: GapTracker,
        builder: MinuteBarBuilder,
        history: AlpacaHistory,
        gap: tuple[datetime, datetime] | None,
    ) -> AsyncGenerator[FeedBatch, None]:
        """Batches from one connection until it drops (``_LostError``) or the feed closes."""
        fill = asyncio.ensure_future(self._fetch_gap(history, gap)) if gap else None
        message = asyncio.ensure_future(connection.recv())
        closed = asyncio.ensure_future(self._closed.wait())
        timeout = self._policy.tick_s if self._traded else None
        live = self._bars_of(leftovers, builder, self._clock())
        try:
            while True:
                out = tracker.accept(live)
                if out:
                    yield FeedBatch(tuple(out), tracker.degraded)
                waiting = {message, closed} if fill is None else {message, closed, fill}
                done, _ = await asyncio.wait(
                    waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if closed in done:
                    return
                now = self._clock()
                if fill is not None and fill in done and gap is not None:
                    filled = tracker.fill(fill.result(), until=gap[1])
                    fill = None
                    if filled:
                        yield FeedBatch(tuple(filled), tracker.degraded)
                live = []
                if message in done:
                    try:
                        frame = message.result()
                    except ConnectionClosed as exc:
                        raise _LostError(f"the connection closed: {exc}") from exc
                    message = asyncio.ensure_future(connection.recv())
                    live = self._bars_of(self._items(frame), builder, now)
                live += builder.due(now)
        finally:
            for task in (message, closed, fill):
                if task is not None and not task.done():
                    task.cancel()
            tasks = [t for t in (message, closed, fill) if t is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

    def _items(self, frame: str | bytes) -> list[Mapping[str, object]]:
        try:
            return parse_frame(frame)
        except MalformedResponseError as exc:
            _LOG.warning("alpaca: skipped a message: %s", exc)
            return []

    def _bars_of(
        self, items: list[Mapping[str, object]], builder: MinuteBarBuilder, now: datetime
    ) -> list[Bar]:
        """The bars in one frame's items (trades become bars once their minute closes)."""
        out: list[Bar] = []
        for item in items:
            kind, symbol = item.get("T"), item.get("S")
            try:
                if kind == "b" and symbol in self._barred and isinstance(symbol, str):
                    out.append(bar_from_wire(item, symbol=symbol, ingested_at=now))
                elif kind == "t" and symbol in self._traded:
                    trade = trade_from_wire(item)
                    bar = builder.add(
                        trade.symbol,
                        price=trade.price,
                        size=trade.size,
                        ts=trade.ts,
                        ingested_at=now,
                    )
                    if bar is not None:
                        out.append(bar)
                elif kind == "error":
                    raise _refusal(item)
            except MalformedResponseError as exc:
                # One bad record is skipped; the bars beside it are kept.
                _LOG.warning("alpaca: skipped a record: %s", exc)
        return out

    async def _fetch_gap(
        self, history: AlpacaHistory, gap: tuple[datetime, datetime] | None
    ) -> list[Bar]:
        """The history of the gap, once its last minute is complete; transient failures are
        retried with backoff (``policy.max_attempts`` of them, if set)."""
        if gap is None:
            return []
        start, until = gap
        wait = (until - self._clock()).total_seconds()
        if wait > 0:
            await self._sleep(wait + self._policy.trade_grace_s)
        attempt = 0
        while True:
            try:
                return await history.minute_bars(self._symbols, start=start, end=until)
            except ProviderUnavailableError as exc:
                attempt += 1
                limit = self._policy.max_attempts
                if limit is not None and attempt >= limit:
                    raise
                _LOG.warning("alpaca history attempt %d failed: %s", attempt, exc)
                await self._sleep(self._policy.backoff(attempt))

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False if the feed was closed meanwhile."""
        return await pause(self._sleep, seconds, self._closed)

    async def _until_closed(self, awaitable: Awaitable[_T]) -> _T:
        """``awaitable``'s result, or ``FeedClosedError`` as soon as the feed is closed."""
        return await until_closed(awaitable, self._closed)

"""Per-client request budgets: the ``RateLimiter`` of ``api/services.py``.

The budget is a *moving window*: a client may make ``amount`` requests in any span of
``period`` seconds, so a burst at the end of one minute and another at the start of the next
cannot add up to twice the limit (as they can with a fixed window).

Two stores, chosen by the settings:

- in-process (``redis_url`` unset): each replica counts on its own. The window is a deque of
  monotonic timestamps per client, kept here rather than in ``limits``' memory storage: that
  storage expires entries from a task that hops to a worker thread once per client on every
  sweep, which measured ~200 µs of CPU per request under paced load (its synchronous twin copies
  every client's list every 10 ms from a timer thread). This one costs under a microsecond a
  request (tests/unit/test_api_ratelimit.py prints it) and runs nothing in the background;
  idle clients are dropped in an amortised sweep.
- Redis (``redis_url`` set): ``limits``' async Redis storage (through ``redis.asyncio``, not
  ``coredis``) with its moving-window strategy, so every replica draws on one budget. The window
  holds wall-clock timestamps written by the replicas, so their clocks must agree (NTP) to well
  under the period.
"""

from __future__ import annotations

import math
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from limits import RateLimitItem, parse_many
from limits.errors import StorageError

from stockpred.domain.errors import (
    ConfigurationError,
    RateLimitedError,
    StoreError,
)
from stockpred.extras import import_optional
from stockpred.settings import Settings

if TYPE_CHECKING:
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter
    from redis.asyncio import Redis as AsyncRedis

__all__ = [
    "AuthThrottle",
    "LimitsRateLimiter",
    "build_auth_throttle",
    "build_rate_limiter",
    "parse_rate",
]

_SETTING = "STOCKPRED_API_RATE_LIMIT"
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix")
# A Redis that does not answer must fail a request (or a readiness probe) in about a second,
# not hang it for the kernel's TCP timeout.
_REDIS_TIMEOUT_SECONDS = 1.0
_FIRST_SWEEP_AT = 1024


def parse_rate(rate: str, *, setting: str = _SETTING) -> RateLimitItem:
    """One limit in the ``limits`` notation ("1200/minute", "20 per second", "10000/hour").

    Raises ``ConfigurationError`` naming the setting when ``rate`` is not one positive limit;
    several limits ("10/second;1000/hour") are refused rather than silently cut to the first.
    """
    try:
        items = parse_many(rate)
    except ValueError as exc:
        raise ConfigurationError(
            f"{setting}={rate!r} is not a rate limit; write it as COUNT/PERIOD, e.g. "
            "'1200/minute', '20/second' or '10000 per hour'"
        ) from exc
    if len(items) != 1:
        raise ConfigurationError(
            f"{setting}={rate!r} holds {len(items)} limits; give one, e.g. '1200/minute'"
        )
    item = items[0]
    if item.amount < 1:
        raise ConfigurationError(
            f"{setting}={rate!r} admits no request at all; give at least 1, e.g. '1200/minute'"
        )
    return item


class _MemoryMovingWindows:
    """Moving windows of one limit for any number of keys, in this process.

    Not thread-safe: it is used from the event loop only, and nothing here awaits, so no two
    requests interleave inside ``acquire``.
    """

    __slots__ = ("_amount", "_clock", "_period", "_sweep_at", "_windows")

    def __init__(self, *, amount: int, period: float, clock: Callable[[], float]) -> None:
        self._amount = amount
        self._period = period
        self._clock = clock
        # Per key, the monotonic times of its admitted requests still in the window, oldest first.
        self._windows: dict[str, deque[float]] = {}
        self._sweep_at = _FIRST_SWEEP_AT

    def acquire(self, key: str, *, count: bool = True) -> float:
        """0.0 when the request is admitted (and counted, unless ``count`` is false), else the
        seconds until it would be."""
        now = self._clock()
        cutoff = now - self._period
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._sweep_at:
                self._sweep(cutoff)
            window = self._windows[key] = deque()
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) >= self._amount:
            return window[0] - cutoff
        if count:
            window.append(now)
        return 0.0

    def _sweep(self, cutoff: float) -> None:
        # Runs when the table has doubled since the last sweep, so its cost per new key is
        # constant however many clients come and go.
        idle = [key for key, window in self._windows.items() if not window or window[-1] <= cutoff]
        for key in idle:
            del self._windows[key]
        self._sweep_at = max(_FIRST_SWEEP_AT, 2 * len(self._windows))


class LimitsRateLimiter:
    """A per-client moving-window rate limit, in-process or shared through Redis.

    ``rate`` is one limit in the ``limits`` notation ("1200/minute"). ``storage_uri`` None (or
    ``memory://``) counts in this process; ``redis://HOST:6379/0`` (also ``rediss://``,
    ``redis+unix://``) counts in Redis, under keys starting with ``key_prefix``, so replicas
    sharing the Redis share each client's budget. ``monotonic_clock`` drives the in-process
    window (injected by tests); the Redis window uses wall-clock time, as ``limits`` does.
    """

    def __init__(
        self,
        *,
        rate: str,
        storage_uri: str | None = None,
        key_prefix: str = "stockpred",
        monotonic_clock: Callable[[], float] = time.monotonic,
        setting: str = _SETTING,
        refusal: str = "client {key!r} is over its limit of {limit}",
    ) -> None:
        self._item = parse_rate(rate, setting=setting)
        self._refusal = refusal
        self._key_prefix = key_prefix
        self._memory: _MemoryMovingWindows | None = None
        self._redis: RedisStorage | None = None
        self._strategy: MovingWindowRateLimiter | None = None
        self._where = "in-process"
        if storage_uri is None or storage_uri.startswith("memory://"):
            self._memory = _MemoryMovingWindows(
                amount=self._item.amount,
                period=float(self._item.get_expiry()),
                clock=monotonic_clock,
            )
        else:
            self._open_redis(storage_uri)

    @property
    def rate(self) -> str:
        """The limit as ``limits`` writes it, e.g. "1200 per 1 minute"."""
        return str(self._item)

    def _open_redis(self, storage_uri: str) -> None:
        parsed = urllib.parse.urlsplit(storage_uri)
        scheme = parsed.scheme.removeprefix("async+")
        if scheme not in _REDIS_SCHEMES:
            # Only the scheme is shown: the rest of the URL may hold a password.
            raise ConfigurationError(
                f"STOCKPRED_REDIS_URL has the scheme {parsed.scheme!r}, which the rate limiter "
                "cannot use; give redis://HOST:6379/0 (or rediss://), or leave it unset to "
                "count requests in-process"
            )
        self._where = f"Redis at {parsed.hostname or 'localhost'}:{parsed.port or 6379}"
        import_optional("redis", extra="redis", purpose="a rate limit shared through Redis")
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        # limits defaults to the coredis client; redis-py is the one stockpred installs.
        storage = RedisStorage(
            f"async+{scheme}://{storage_uri.split('://', 1)[1]}",
            implementation="redispy",
            key_prefix=self._key_prefix,
            wrap_exceptions=True,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        )
        self._redis = storage
        self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, key: str) -> None:
        """Count one request of ``key``; raises ``RateLimitedError`` when it is over the limit
        (``retry_after``: whole seconds until a request would be admitted, at least 1) and
        ``StoreError`` when the shared store does not answer."""
        await self._take(key, count=True)

    async def peek(self, key: str) -> None:
        """Raise as :meth:`hit` would, without counting a request: for budgets that count only
        some outcomes (failed authentications), checked before the work they guard."""
        await self._take(key, count=False)

    async def _take(self, key: str, *, count: bool) -> None:
        if self._memory is not None:
            wait = self._memory.acquire(key, count=count)
            if wait > 0.0:
                self._refuse(key, wait)
            return
        assert self._strategy is not None
        admit = self._strategy.hit if count else self._strategy.test
        try:
            if await admit(self._item, key):
                return
            stats = await self._strategy.get_window_stats(self._item, key)
        except StorageError as exc:
            raise self._unreachable() from exc
        # limits stamps its Redis entries with time.time(), so its reset time is on that clock.
        self._refuse(key, stats.reset_time - time.time())

    def _refuse(self, key: str, wait: float) -> None:
        retry_after = max(1, math.ceil(wait))
        reason = self._refusal.format(key=key[:64], limit=self._item)
        raise RateLimitedError(f"{reason}; retry in {retry_after} s", retry_after=retry_after)

    async def check(self) -> None:
        """Raise ``StoreError`` when the shared store does not answer a PING (readiness)."""
        if self._redis is None:
            return
        try:
            answered = await self._redis.check()
        except StorageError as exc:
            raise self._unreachable() from exc
        if not answered:
            raise self._unreachable()

    async def aclose(self) -> None:
        """Close the Redis connections (at shutdown); the in-process limiter holds none."""
        if self._redis is None:
            return
        from limits.aio.storage.redis.redispy import RedispyBridge

        if isinstance(self._redis.bridge, RedispyBridge):
            # limits types its client as a protocol without aclose; it is a redis.asyncio.Redis.
            client = cast("AsyncRedis", self._redis.bridge.get_connection())
            await client.aclose()

    def _unreachable(self) -> StoreError:
        return StoreError(
            f"the rate limiter's {self._where} does not answer; start it or fix "
            "STOCKPRED_REDIS_URL (unset, requests are counted in-process)"
        )


class AuthThrottle:
    """Authentication budgets: per client id, its failed authentications; per source address,
    its secret checks (every token request that would hash a secret) and its failures.

    The token route calls :meth:`attempt` *before* it hashes a secret: a client id over its
    failure budget, or an address over its budget, gets 429 (with Retry-After) at the cost of
    a lookup, not of an argon2id hash, and the attempt is counted before the hash starts, so
    parallel guessers cannot overshoot the budget while they wait for the hashing threads. A
    failed check is then counted against the client id with :meth:`failed`. Bearer tokens are
    cheap to check, so a route counts a bad one against its address with :meth:`failed` and
    answers 429 instead of 401 once the address is over budget; valid tokens never pay for it.
    Shared through Redis like :class:`LimitsRateLimiter` when ``storage_uri`` names one.
    """

    def __init__(
        self,
        *,
        per_client: str,
        per_address: str,
        storage_uri: str | None = None,
        monotonic_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = LimitsRateLimiter(
            rate=per_client,
            storage_uri=storage_uri,
            key_prefix="stockpred-authfail-client",
            monotonic_clock=monotonic_clock,
            setting="STOCKPRED_API_AUTH_FAILURES_PER_CLIENT",
            refusal="too many failed authentications for client {key!r} (limit {limit})",
        )
        self._addresses = LimitsRateLimiter(
            rate=per_address,
            storage_uri=storage_uri,
            key_prefix="stockpred-authfail-address",
            monotonic_clock=monotonic_clock,
            setting="STOCKPRED_API_AUTH_FAILURES_PER_ADDRESS",
            refusal="too many authentication attempts from {key} (limit {limit})",
        )

    async def attempt(self, *, address: str, client_id: str) -> None:
        """Admit one secret check from ``address`` for ``client_id``, counting it against the
        address; ``RateLimitedError`` when either is over its budget (nothing counted then)."""
        await self._clients.peek(client_id)
        await self._addresses.hit(address)

    async def failed(self, *, address: str | None = None, client_id: str | None = None) -> None:
        """Count one failure against ``address`` and/or ``client_id``; ``RateLimitedError``
        when that leaves either over budget (so the caller answers 429, not 401)."""
        refused: RateLimitedError | None = None
        for limiter, key in ((self._addresses, address), (self._clients, client_id)):
            if not key:
                continue
            try:
                await limiter.hit(key)
            except RateLimitedError as exc:
                refused = refused or exc
        if refused is not None:
            raise refused

    async def aclose(self) -> None:
        await self._clients.aclose()
        await self._addresses.aclose()


def build_auth_throttle(settings: Settings) -> AuthThrottle:
    """The failed-authentication budgets of the settings, shared through Redis when set."""
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    return AuthThrottle(
        per_client=settings.api_auth_failures_per_client,
        per_address=settings.api_auth_failures_per_address,
        storage_uri=redis_url or None,
    )


def build_rate_limiter(settings: Settings) -> LimitsRateLimiter:
    """The limiter the settings ask for: shared through Redis when ``redis_url`` is set."""
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    return LimitsRateLimiter(rate=settings.api_rate_limit, storage_uri=redis_url or None)

"""HTTP for provider adapters: cache, rate limit, retries, circuit breaker, error translation.

Built from well-kept parts rather than by hand:

* ``requests-cache``: responses cached on disk (SQLite) with a lifetime per endpoint; API keys
  are left out of the cache key and redacted from what is stored. A cached answer spends no quota
  and waits for no rate limit.
* ``pyrate-limiter``: the provider's published quota, shared by every caller in the process.
* ``tenacity``: retries on timeouts, connection errors, 5xx and 429 with exponential backoff and
  jitter, or exactly the server's ``Retry-After`` when it sends one.
* ``pybreaker``: after repeated unavailability the provider is marked down for a while, so a run
  over many symbols stops waiting on it and goes on with the others.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pybreaker
import requests
import requests_cache
from pyrate_limiter import Duration, Limiter, Rate, SQLiteBucket
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderError,
    ProviderUnavailableError,
    QuotaExhaustedError,
)
from stockpred.sources.providers.base import ProviderContext, ProviderInfo, RateLimit
from stockpred.sources.providers.quota import QUOTA_FILE, quota_table

__all__ = ["HttpPolicy", "ProviderHttp", "Response", "decode_json", "raise_for_status"]


@dataclass(frozen=True, slots=True)
class Response:
    """What an adapter gets back: status, body and whether it came from the cache."""

    status: int
    text: str
    url: str
    from_cache: bool

    def json(self) -> object:
        return json.loads(self.text)


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """How hard to try. Defaults suit a daily batch job; tests shorten them."""

    attempts: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0
    breaker_fail_max: int = 3
    breaker_reset_s: float = 300.0
    # Longest wait for the local quota (Alpha Vantage's 5/min needs up to a minute); a longer
    # one (a spent daily quota) fails at once instead of blocking for hours.
    quota_wait_max_s: float = 90.0


class _RetryableError(Exception):
    """A transient failure worth another try; carries the server's Retry-After, if any."""

    def __init__(self, message: str, *, status: int | None, retry_after: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _reset_seconds(value: str | None, *, now: datetime) -> float | None:
    """``x-rate-limit-reset`` (epoch seconds, as X and others send it) as seconds from now."""
    if not value or not value.strip().isdigit():
        return None
    return max(0.0, float(value.strip()) - now.timestamp())


class ProviderHttp:
    """GET requests to one provider, with everything a flaky, metered API needs.

    ``secret_params`` are query parameters holding the key: excluded from cache keys, redacted in
    the cache and never put in an error message; ``secret_headers`` are the same for keys sent
    as request headers (``get(headers=...)``). ``cacheable(body)`` says whether a 200 answer
    may be cached (False for the error bodies some providers send with 200).
    """

    def __init__(
        self,
        info: ProviderInfo,
        context: ProviderContext,
        *,
        secret_params: Sequence[str] = (),
        secret_headers: Sequence[str] = (),
        policy: HttpPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cacheable: Callable[[str], bool] | None = None,
    ) -> None:
        self._info = info
        self._context = context
        self._policy = policy or HttpPolicy()
        self._secret_params = tuple(secret_params)
        self._clock = clock
        self._sleep = context.sleep or time.sleep
        if context.cache_dir is not None:
            context.cache_dir.mkdir(parents=True, exist_ok=True)
            self._session: requests.Session = requests_cache.CachedSession(
                cache_name=str(Path(context.cache_dir) / f"{info.name}.sqlite"),
                backend="sqlite",
                allowable_codes=(200,),
                ignored_parameters=[*self._secret_params, *secret_headers],
                expire_after=requests_cache.DO_NOT_CACHE,
                # Providers that answer errors with HTTP 200 must not have them cached.
                filter_fn=(lambda r: cacheable(r.text)) if cacheable else None,
            )
        else:
            self._session = requests.Session()
        rate = self.rate_limit
        rates = [Rate(rate.requests, Duration.SECOND * rate.seconds)]
        if rate.per_day:
            # pyrate-limiter wants generous-before-tight rates; a daily quota no larger than the
            # short one is all that binds.
            day = Rate(rate.per_day, Duration.DAY)
            rates = [*rates, day] if rate.per_day > rate.requests else [day]
        self._quota = info.quota_group or info.name
        if context.cache_dir is not None:
            # On disk, beside the cache: the quota is shared by every process and every run (a
            # daily quota must survive the process), and by adapters of one account.
            bucket = SQLiteBucket.init_from_file(
                rates,
                table=quota_table(self._quota),
                db_path=str(context.cache_dir / QUOTA_FILE),
            )
            self._limiter = Limiter(bucket)
        else:
            self._limiter = Limiter(rates)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=self._policy.breaker_fail_max,
            reset_timeout=self._policy.breaker_reset_s,
            # Only unavailability counts; a bad symbol says nothing about the provider's health.
            exclude=[lambda exc: not isinstance(exc, ProviderUnavailableError)],
        )
        self.network_calls = 0

    @property
    def info(self) -> ProviderInfo:
        return self._info

    @property
    def rate_limit(self) -> RateLimit:
        """The quota this client keeps to: the context's (a paid plan's) or the provider's."""
        return self._context.rate_limit or self._info.rate_limit

    def close(self) -> None:
        self._session.close()

    def _status(self, ok: bool, detail: str) -> None:
        if self._context.on_status is not None:
            self._context.on_status(self._info.name, ok, detail)

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, str],
        endpoint: str,
        symbol: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET ``base_url + path``; cached answers first, then the network under the limits.

        Raises ProviderUnavailableError (after retries, or while the breaker is open) and
        QuotaExhaustedError (429 that outlasts the retries); other statuses are returned for the
        adapter to interpret in the provider's own terms.
        """
        url = self._context.base_url.rstrip("/") + "/" + path.lstrip("/")
        query = dict(params)
        ttl = self._info.endpoints_ttl.get(endpoint, 0.0)
        if ttl > 0 and isinstance(self._session, requests_cache.CachedSession):
            cached = self._session.get(
                url,
                params=query,
                headers=dict(headers or {}),
                only_if_cached=True,
                expire_after=ttl,
            )
            if getattr(cached, "from_cache", False) and cached.status_code == 200:
                return Response(cached.status_code, cached.text, self._redact(url), True)
        try:
            response: Response = self._breaker.call(
                self._fetch, url, query, ttl=ttl, symbol=symbol, headers=dict(headers or {})
            )
        except pybreaker.CircuitBreakerError as exc:
            reset = self._clock() + timedelta(seconds=self._policy.breaker_reset_s)
            raise ProviderUnavailableError(
                f"{self._info.name} is marked down after {self._policy.breaker_fail_max} "
                f"failed calls in a row; not calling it again before {reset:%H:%M:%S} UTC",
                provider=self._info.name,
                symbol=symbol,
            ) from exc
        return response

    def _fetch(
        self,
        url: str,
        query: dict[str, str],
        *,
        ttl: float,
        symbol: str | None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        last: _RetryableError | None = None
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(_RetryableError),
                stop=stop_after_attempt(self._policy.attempts),
                wait=self._wait,
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    return self._once(url, query, ttl=ttl, headers=headers)
        except _RetryableError as exc:
            last = exc
        assert last is not None
        detail = f"{last} after {self._policy.attempts} attempts"
        self._status(False, detail)
        if last.status == 429:
            reset = (
                self._clock() + timedelta(seconds=last.retry_after)
                if last.retry_after is not None
                else None
            )
            when = (
                f"; the provider expects capacity back at {reset:%Y-%m-%d %H:%M} UTC"
                if reset
                else ""
            )
            raise QuotaExhaustedError(
                f"{self._info.name}: rate limit or quota exhausted{when}; try again later or "
                f"lower the request rate",
                provider=self._info.name,
                symbol=symbol,
                reset_at=reset,
            )
        raise ProviderUnavailableError(
            f"{self._info.name} did not answer usefully for {symbol or self._redact(url)}: "
            f"{detail}; check the service status or try again later",
            provider=self._info.name,
            symbol=symbol,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableError) and exc.retry_after is not None:
            return min(exc.retry_after, self._policy.retry_after_max_s)
        backoff = wait_random_exponential(
            multiplier=self._policy.backoff_initial_s, max=self._policy.backoff_max_s
        )
        return float(backoff(state))

    def _once(
        self, url: str, query: dict[str, str], *, ttl: float, headers: dict[str, str] | None = None
    ) -> Response:
        if not self._limiter.try_acquire(self._quota, timeout=self._policy.quota_wait_max_s):
            limit = self.rate_limit.describe()
            raise QuotaExhaustedError(
                f"{self._info.name}: the local quota ({limit}) is spent for now; not calling "
                "the provider until it frees up (a paid plan's quota can be configured)",
                provider=self._info.name,
            )
        self.network_calls += 1
        try:
            kwargs: dict[str, object] = {"params": query, "timeout": self._context.timeout_s}
            if headers:
                kwargs["headers"] = headers
            if isinstance(self._session, requests_cache.CachedSession):
                kwargs["expire_after"] = ttl if ttl > 0 else requests_cache.DO_NOT_CACHE
            raw = self._session.get(url, **kwargs)  # type: ignore[arg-type]
        except requests.Timeout as exc:
            raise _RetryableError(
                f"timed out after {self._context.timeout_s:g}s", status=None, retry_after=None
            ) from exc
        except requests.ConnectionError as exc:
            raise _RetryableError(
                f"could not connect to {self._redact(url)}", status=None, retry_after=None
            ) from exc
        if raw.status_code == 429 or raw.status_code >= 500:
            retry_after = _retry_after_seconds(raw.headers.get("Retry-After"), now=self._clock())
            if retry_after is None:
                retry_after = _reset_seconds(
                    raw.headers.get("x-rate-limit-reset"), now=self._clock()
                )
            raise _RetryableError(
                f"HTTP {raw.status_code}", status=raw.status_code, retry_after=retry_after
            )
        self._status(True, f"HTTP {raw.status_code}")
        return Response(raw.status_code, raw.text, self._redact(url), False)

    def _redact(self, url: str) -> str:
        return url  # query parameters (and so keys) are never part of ``url`` here


def raise_for_status(response: Response, *, provider: str, symbol: str | None) -> None:
    """A generic translation of 4xx statuses an adapter did not interpret itself."""
    if response.status >= 400:
        raise ProviderError(
            f"{provider} answered HTTP {response.status} for {symbol or response.url}: "
            f"{response.text[:200]}",
            provider=provider,
            symbol=symbol,
        )


def decode_json(text: str, *, provider: str, symbol: str | None) -> object:
    """``text`` as JSON, or a MalformedResponseError naming the provider and symbol.

    Callers pass text with any echoed key already blanked out; the excerpt goes in the message.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedResponseError(
            f"{provider} sent a body that is not JSON for {symbol}: {text[:80]!r}",
            provider=provider,
            symbol=symbol,
        ) from exc

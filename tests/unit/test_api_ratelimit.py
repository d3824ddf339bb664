"""The in-process rate limiter: a moving window per client, refused hits carry Retry-After."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from pydantic import SecretStr

from stockpred.api.ratelimit import LimitsRateLimiter, build_rate_limiter
from stockpred.api.services import RateLimiter
from stockpred.domain.errors import ConfigurationError, MissingExtraError, RateLimitedError
from stockpred.settings import Settings


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _hits(limiter: LimitsRateLimiter, key: str, count: int) -> list[int | None]:
    """For each hit, None when admitted or the retry_after of its refusal."""

    async def run() -> list[int | None]:
        outcomes: list[int | None] = []
        for _ in range(count):
            try:
                await limiter.hit(key)
            except RateLimitedError as refused:
                outcomes.append(refused.retry_after)
            else:
                outcomes.append(None)
        return outcomes

    return asyncio.run(run())


def test_the_fourth_hit_within_a_second_of_three_per_second_is_refused() -> None:
    limiter = LimitsRateLimiter(rate="3/second")

    outcomes = _hits(limiter, "client-a", 4)

    assert outcomes[:3] == [None, None, None]
    assert outcomes[3] is not None
    assert outcomes[3] >= 1


def test_a_refusal_says_which_limit_and_when_to_retry() -> None:
    limiter = LimitsRateLimiter(rate="3/second")
    _hits(limiter, "client-a", 3)

    with pytest.raises(RateLimitedError, match=r"3 per 1 second.*retry in 1 s") as refused:
        asyncio.run(limiter.hit("client-a"))

    assert refused.value.retry_after == 1


def test_clients_have_independent_budgets() -> None:
    limiter = LimitsRateLimiter(rate="3/second")

    first = _hits(limiter, "client-a", 4)
    second = _hits(limiter, "client-b", 3)

    assert first[3] is not None
    assert second == [None, None, None]


def test_the_window_moves_so_a_slot_frees_when_the_oldest_hit_leaves_it() -> None:
    clock = FakeMonotonic()
    limiter = LimitsRateLimiter(rate="3/minute", monotonic_clock=clock)
    _hits(limiter, "client-a", 1)
    clock.now += 40
    _hits(limiter, "client-a", 2)

    clock.now += 10  # 50 s after the first hit: the window still holds three
    assert _hits(limiter, "client-a", 1) == [10]
    clock.now += 10  # the first hit has left the window, the other two have not
    assert _hits(limiter, "client-a", 2) == [None, 40]


def test_a_refused_hit_does_not_use_up_budget() -> None:
    clock = FakeMonotonic()
    limiter = LimitsRateLimiter(rate="2/second", monotonic_clock=clock)
    _hits(limiter, "client-a", 5)

    clock.now += 1.0

    assert _hits(limiter, "client-a", 3) == [None, None, 1]


def test_idle_clients_are_forgotten_once_the_table_grows() -> None:
    clock = FakeMonotonic()
    limiter = LimitsRateLimiter(rate="1/second", monotonic_clock=clock)
    _hits(limiter, "old-client", 1)
    clock.now += 5.0

    async def many() -> None:
        for index in range(5000):
            await limiter.hit(f"client-{index}")

    asyncio.run(many())

    assert limiter._memory is not None
    assert "old-client" not in limiter._memory._windows


@pytest.mark.parametrize("rate", ["lots", "1200/fortnight", "", "10/second;100/hour", "0/minute"])
def test_a_bad_rate_is_refused_naming_the_setting(rate: str) -> None:
    with pytest.raises(ConfigurationError, match=r"STOCKPRED_API_RATE_LIMIT.*1200/minute"):
        LimitsRateLimiter(rate=rate)


def test_an_unusable_storage_scheme_is_refused_without_echoing_the_url() -> None:
    with pytest.raises(ConfigurationError, match="memcached") as refused:
        LimitsRateLimiter(rate="3/second", storage_uri="memcached://user:hunter2@cache:11211")

    assert "hunter2" not in str(refused.value)


def test_the_in_process_limiter_is_always_ready() -> None:
    asyncio.run(LimitsRateLimiter(rate="3/second").check())


def test_settings_without_redis_give_an_in_process_limiter_with_their_rate() -> None:
    limiter = build_rate_limiter(Settings(api_rate_limit="50/second"))

    assert limiter.rate == "50 per 1 second"
    assert limiter._memory is not None


def test_settings_with_redis_give_a_shared_limiter_without_connecting() -> None:
    # Port 1 has no server: building must not touch the network (only check/hit do).
    settings = Settings(redis_url=SecretStr("redis://127.0.0.1:1/0"))

    limiter = build_rate_limiter(settings)

    assert limiter._redis is not None


def test_a_shared_limiter_without_the_redis_client_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)

    with pytest.raises(MissingExtraError, match=r"pip install 'stockpred\[redis\]'"):
        LimitsRateLimiter(rate="3/second", storage_uri="redis://127.0.0.1:6379/0")


def test_the_limiter_satisfies_the_services_protocol() -> None:
    limiter: RateLimiter = LimitsRateLimiter(rate="3/second")

    assert callable(limiter.hit)


def test_in_process_hit_cost_is_reported() -> None:
    limiter = LimitsRateLimiter(rate="1000000/minute")
    keys = [f"client-{index % 200}" for index in range(50_000)]

    async def run() -> float:
        started = time.perf_counter()
        for key in keys:
            await limiter.hit(key)
        return time.perf_counter() - started

    elapsed = asyncio.run(run())

    print(f"\nin-process moving window: {elapsed / len(keys) * 1e6:.2f} µs per hit (200 clients)")
    assert limiter._memory is not None
    assert sum(len(window) for window in limiter._memory._windows.values()) == len(keys)

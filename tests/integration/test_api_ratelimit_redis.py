"""The shared rate limiter on a real Redis: replicas draw on one budget per client.

Tests that need the server read STOCKPRED_TEST_REDIS_URL and skip without it; each uses its own
key prefix and deletes its keys. The unreachable-Redis tests run everywhere (nothing listens on
port 1, so the connection is refused at once).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from stockpred.api.ratelimit import AuthThrottle, LimitsRateLimiter
from stockpred.domain.errors import RateLimitedError, StoreError

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("STOCKPRED_TEST_REDIS_URL")
UNREACHABLE = "redis://:hunter2-secret@127.0.0.1:1/0"


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("STOCKPRED_TEST_REDIS_URL is not set (CI sets it); Redis not tested")
    return REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"stockpred-test-{uuid.uuid4().hex}"
    yield prefix
    _delete_keys(redis_url, f"{prefix}:*")


def _delete_keys(redis_url: str, pattern: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=pattern))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def _outcomes(limiter: LimitsRateLimiter, key: str, count: int) -> list[int | None]:
    outcomes: list[int | None] = []
    for _ in range(count):
        try:
            await limiter.hit(key)
        except RateLimitedError as refused:
            outcomes.append(refused.retry_after)
        else:
            outcomes.append(None)
    return outcomes


def test_two_replicas_sharing_redis_share_one_budget(redis_url: str, key_prefix: str) -> None:
    async def run() -> tuple[list[int | None], list[int | None]]:
        first = LimitsRateLimiter(rate="3/minute", storage_uri=redis_url, key_prefix=key_prefix)
        second = LimitsRateLimiter(rate="3/minute", storage_uri=redis_url, key_prefix=key_prefix)
        try:
            from_first = await _outcomes(first, "client-a", 2)
            from_second = await _outcomes(second, "client-a", 2)
        finally:
            await first.aclose()
            await second.aclose()
        return from_first, from_second

    from_first, from_second = asyncio.run(run())

    assert from_first == [None, None]
    assert from_second[0] is None
    assert from_second[1] is not None
    # The window is a minute and its oldest hit is a moment old.
    assert 55 <= from_second[1] <= 60


def test_clients_sharing_redis_keep_independent_budgets(redis_url: str, key_prefix: str) -> None:
    async def run() -> tuple[list[int | None], list[int | None]]:
        limiter = LimitsRateLimiter(rate="2/second", storage_uri=redis_url, key_prefix=key_prefix)
        try:
            return (
                await _outcomes(limiter, "client-a", 3),
                await _outcomes(limiter, "client-b", 2),
            )
        finally:
            await limiter.aclose()

    first, second = asyncio.run(run())

    assert first[:2] == [None, None]
    assert first[2] == 1
    assert second == [None, None]


def test_the_limiter_keeps_its_keys_under_its_prefix(redis_url: str, key_prefix: str) -> None:
    async def run() -> None:
        limiter = LimitsRateLimiter(rate="5/minute", storage_uri=redis_url, key_prefix=key_prefix)
        try:
            await limiter.hit("client-a")
        finally:
            await limiter.aclose()

    asyncio.run(run())

    client = redis.Redis.from_url(redis_url)
    try:
        keys = [key.decode() for key in client.scan_iter(match=f"{key_prefix}:*")]
    finally:
        client.close()
    assert len(keys) == 1
    assert "client-a" in keys[0]


def test_a_reachable_redis_is_ready(redis_url: str, key_prefix: str) -> None:
    async def run() -> None:
        limiter = LimitsRateLimiter(rate="5/minute", storage_uri=redis_url, key_prefix=key_prefix)
        try:
            await limiter.check()
        finally:
            await limiter.aclose()

    asyncio.run(run())


def test_shared_hit_cost_is_reported(redis_url: str, key_prefix: str) -> None:
    count = 500

    async def run() -> float:
        limiter = LimitsRateLimiter(
            rate="100000/minute", storage_uri=redis_url, key_prefix=key_prefix
        )
        try:
            await limiter.hit("warm-up")
            started = time.perf_counter()
            for index in range(count):
                await limiter.hit(f"client-{index % 20}")
            return time.perf_counter() - started
        finally:
            await limiter.aclose()

    elapsed = asyncio.run(run())

    print(f"\nRedis moving window: {elapsed / count * 1e6:.0f} µs per hit (loopback)")
    client = redis.Redis.from_url(redis_url)
    try:
        assert len(list(client.scan_iter(match=f"{key_prefix}:*"))) == 21
    finally:
        client.close()


def test_an_unreachable_redis_fails_the_readiness_check_without_the_password() -> None:
    limiter = LimitsRateLimiter(rate="5/minute", storage_uri=UNREACHABLE)

    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1 does not answer") as failed:
        asyncio.run(limiter.check())

    assert "hunter2" not in str(failed.value)


def test_a_hit_on_an_unreachable_redis_is_a_store_error_not_a_driver_error() -> None:
    limiter = LimitsRateLimiter(rate="5/minute", storage_uri=UNREACHABLE)

    with pytest.raises(StoreError, match="STOCKPRED_REDIS_URL"):
        asyncio.run(limiter.hit("client-a"))


def test_a_peek_on_redis_counts_nothing_and_refuses_once_over(
    redis_url: str, key_prefix: str
) -> None:
    limiter = LimitsRateLimiter(rate="2/minute", storage_uri=redis_url, key_prefix=key_prefix)

    async def scenario() -> tuple[list[bool], int]:
        admitted = []
        for _ in range(5):
            try:
                await limiter.peek("guesser")
            except RateLimitedError:
                admitted.append(False)
            else:
                admitted.append(True)
        await limiter.hit("guesser")
        await limiter.hit("guesser")
        try:
            await limiter.peek("guesser")
        except RateLimitedError as refused:
            wait = refused.retry_after
        else:
            wait = 0
        await limiter.aclose()
        return admitted, wait

    admitted, wait = asyncio.run(scenario())

    assert admitted == [True] * 5
    assert 1 <= wait <= 60


def test_failed_authentications_are_shared_by_replicas_through_redis(redis_url: str) -> None:
    address = f"192.0.2.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
    replicas = [
        AuthThrottle(per_client="5/minute", per_address="3/minute", storage_uri=redis_url)
        for _ in range(2)
    ]

    async def scenario() -> list[str]:
        seen = []
        for n in range(4):
            replica = replicas[n % 2]
            try:
                await replica.attempt(address=address, client_id=f"cl_{n}")
                seen.append("counted")
            except RateLimitedError:
                seen.append("refused")
        for replica in replicas:
            await replica.aclose()
        return seen

    seen = asyncio.run(scenario())

    assert seen == ["counted", "counted", "counted", "refused"]
    _delete_keys(redis_url, f"stockpred-authfail-address*{address}*")

"""What is left of a provider's quota, read from the rate limiter's own SQLite file the way
ProviderHttp writes it (pyrate-limiter's SQLiteBucket, table quota_<group>)."""

from __future__ import annotations

import time
from pathlib import Path

from pyrate_limiter import Duration, Limiter, Rate, SQLiteBucket

from stockpred.sources.providers.base import RateLimit
from stockpred.sources.providers.quota import QUOTA_FILE, quota_left, quota_table

RATE = RateLimit(requests=5, seconds=60, per_day=25)


def _spend(cache: Path, group: str, count: int) -> None:
    rates = [Rate(RATE.requests, Duration.SECOND * 60), Rate(RATE.per_day or 0, Duration.DAY)]
    bucket = SQLiteBucket.init_from_file(
        rates, table=quota_table(group), db_path=str(cache / QUOTA_FILE)
    )
    limiter = Limiter(bucket)
    for _ in range(count):
        assert limiter.try_acquire(group)


def test_a_group_that_made_no_request_has_its_whole_quota(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    assert quota_left(tmp_path, group="alpha_vantage", rate=RATE, now_ms=now) == {
        "60s": 5,
        "1d": 25,
    }
    _spend(tmp_path, "other", 1)
    assert quota_left(tmp_path, group="alpha_vantage", rate=RATE, now_ms=now)["60s"] == 5


def test_requests_made_count_against_each_window_until_it_passes(tmp_path: Path) -> None:
    _spend(tmp_path, "alpha_vantage", 3)
    now = int(time.time() * 1000)
    assert quota_left(tmp_path, group="alpha_vantage", rate=RATE, now_ms=now) == {
        "60s": 2,
        "1d": 22,
    }
    later = now + 61_000
    assert quota_left(tmp_path, group="alpha_vantage", rate=RATE, now_ms=later) == {
        "60s": 5,
        "1d": 22,
    }
